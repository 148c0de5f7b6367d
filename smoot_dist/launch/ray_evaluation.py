"""An evaluation fanned out over Ray: the test images' batches are dealt round the tasks (batch b
to task b mod W), each task measures its batches with the same code as a single-process run
(evaluation/measure.py: every draw seeded per batch), and the sums are added, so the drop curves
and the battery's numbers equal the single-process ones exactly."""

from __future__ import annotations

import time
from typing import Any

import ray
import torch

from ..config import JobConfig
from ..data.loading import load_test_split
from ..data.paths import pin_data_root
from ..metrics.faithfulness.drop import batch_starts
from ..evaluation.measure import Measurement, measure
from ..models.registry import create_model
from .ray_cluster import check_local_capacity, check_resources, connect


def _measure(cfg: JobConfig, model_state: dict, methods: list[str], metrics: tuple[str, ...],
             starts: list[int], masks: torch.Tensor | None, use_gpu: bool,
             options: dict[str, Any]) -> Measurement:
    """One task: load the test split and the model, measure the batches at `starts`."""
    device = torch.device("cuda" if use_gpu else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(1)
    splits = load_test_split(cfg.data)
    model = create_model(cfg.model, splits.spec)
    model.load_state_dict(model_state)
    return measure(model, splits.test, splits.spec, methods, metrics, device=device,
                   starts=starts, masks=masks, **options).cpu()


def measure_on_ray(cfg: JobConfig, model: torch.nn.Module, methods: list[str],
                   metrics: tuple[str, ...], num_images: int, *, workers: int, use_gpu: bool,
                   ray_address: str | None = None, verbose: bool = False,
                   masks: torch.Tensor | None = None, **options: Any) -> Measurement:
    """`cfg.data` names the test images (with its test_subset); `options` are measure()'s."""
    check_local_capacity(ray_address, workers, use_gpu)
    print(f"Ray: {connect(ray_address, 0 if use_gpu else workers, verbose)}", flush=True)
    check_resources(workers, use_gpu)
    starts = batch_starts(num_images, options.get("batch_size", 500))
    state = ray.put({k: v.cpu() for k, v in model.state_dict().items()})
    shared_masks = ray.put(masks) if masks is not None else None
    task = ray.remote(num_cpus=0 if use_gpu else 1, num_gpus=1 if use_gpu else 0)(_measure)
    cfg = pin_data_root(cfg)  # the tasks read the data where this machine has it
    # the tasks print nothing (the driver does not forward workers' output unless --verbose):
    # the driver says when each task's share is in
    progress = options.get("progress")
    options = {**options, "progress": None}
    futures = [task.remote(cfg, state, methods, metrics, starts[r::workers], shared_masks,
                           use_gpu, options)
               for r in range(workers) if starts[r::workers]]
    shares, pending, tick = {}, list(futures), time.perf_counter()
    while pending:
        [ready], pending = ray.wait(pending, num_returns=1)
        shares[futures.index(ready)] = ray.get(ready)
        if progress:
            print(f"  evaluation: {len(shares)}/{len(futures)} Ray task(s) done, "
                  f"{time.perf_counter() - tick:.0f} s", flush=True)
    total = Measurement()
    for r in range(len(futures)):  # added in the tasks' order, however they finished
        total = total.add(shares[r])
    return total
