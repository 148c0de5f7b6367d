"""The accuracy-drop evaluation fanned out over Ray: the test images' batches are dealt round the
tasks (batch b to task b mod W), each task scores its batches with the same code as a
single-process run (evaluation/drop.py seeds every draw per batch), and the correct counts are
summed, so the curves equal the single-process ones exactly."""

from __future__ import annotations

from typing import Any

import ray
import torch

from ..config import JobConfig
from ..evaluation.drop import Counts, DropCurves, batch_starts, curves_from_counts
from ..data.paths import pin_data_root
from .ray_cluster import check_local_capacity, check_resources, connect
from ..data.loading import load_test_split
from ..evaluation.drop import drop_counts
from ..models import create_model


def _score(cfg: JobConfig, model_state: dict, methods: list[str], starts: list[int],
           options: dict[str, Any]) -> tuple[Counts, dict[str, float]]:
    """One task: load the test split and the model, score the batches at `starts`."""
    device = torch.device("cuda" if options.pop("use_gpu") else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(1)
    splits = load_test_split(cfg.data)
    spec = splits.spec
    model = create_model(cfg.model, spec)
    model.load_state_dict(model_state)
    counts, seconds = drop_counts(model, splits.test, spec, methods, device=device, starts=starts,
                                  **options)
    return {key: c.cpu() for key, c in counts.items()}, seconds


def accuracy_drop_on_ray(cfg: JobConfig, model: torch.nn.Module, methods: list[str],
                         num_images: int, *, workers: int, use_gpu: bool,
                         ray_address: str | None = None, verbose: bool = False,
                         **options: Any) -> DropCurves:
    """`cfg.data` names the test images (with its test_subset); `options` are drop_counts'."""
    check_local_capacity(ray_address, workers, use_gpu)
    print(f"Ray: {connect(ray_address, 0 if use_gpu else workers, verbose)}", flush=True)
    check_resources(workers, use_gpu)
    starts = batch_starts(num_images, options.get("batch_size", 500))
    state = ray.put({k: v.cpu() for k, v in model.state_dict().items()})
    task = ray.remote(num_cpus=0 if use_gpu else 1, num_gpus=1 if use_gpu else 0)(_score)
    cfg = pin_data_root(cfg)  # the tasks read the data where this machine has it
    futures = [task.remote(cfg, state, methods, starts[r::workers],
                           dict(options, use_gpu=use_gpu))
               for r in range(workers) if starts[r::workers]]
    total: Counts = {}
    seconds: dict[str, float] = {}
    for counts, secs in ray.get(futures):
        for key, c in counts.items():
            total[key] = total.get(key, 0) + c
        for name, s in secs.items():
            seconds[name] = max(seconds.get(name, 0.0), s)
    curves = curves_from_counts(total, num_images, options.get("fill", "background"))
    curves.seconds = seconds
    return curves
