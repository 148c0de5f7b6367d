"""Shared bits of the benchmarks: timing with device synchronisation, tables."""

from __future__ import annotations

import runpy
import statistics
import time
from pathlib import Path
from typing import Callable

# The jobs' bootstrap: this checkout's smoot_dist, installed or not.
runpy.run_path(str(Path(__file__).resolve().parents[1] / "jobs" / "_bootstrap.py"))

import torch  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn: Callable[[], object], steps: int, device: torch.device, warmup: int = 3) -> float:
    """Median wall time of one call, in ms (each call synchronised, so queued GPU work counts)."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def print_table(header: list[str], rows: list[list[object]]) -> None:
    cells = [header] + [[f"{c:.2f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for j, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
        if j == 0:
            print("  ".join("-" * w for w in widths))


def dispatcher_calls(fn: Callable[[], object]) -> int:
    """The ATen operators one call of `fn` dispatches, counted by torch's profiler: every
    operator called from Python or by autograd, not those an operator calls inside itself. On
    a GPU each is at least one kernel launch, and a small step is bound by launches."""
    from torch.profiler import ProfilerActivity, profile

    fn()  # warm: lazily made tensors (caches) and first-call paths out of the count
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = [e for e in prof.events() if e.name.startswith("aten::")]
    return sum(1 for e in events if e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::"))


def write_json(path: str | None, **doc: object) -> None:
    """The benchmark's numbers for a script to read (bench/gpu_check.py's report), if asked."""
    if path:
        import json

        Path(path).write_text(json.dumps(doc, indent=1, default=str))


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    import os
    return f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} threads), torch {torch.__version__}"


def quick_model(dataset: str, device: str = "auto", train_subset: int = 5000,
                test_subset: int | None = None):
    """A model worth explaining: one quick epoch of traditional training (5,000 real images;
    its test accuracy on `test_subset` test images, default all)."""
    from smoot_dist.config import build_config
    from smoot_dist.training.trainer import Trainer

    cfg = build_config(overrides={"data": {"dataset": dataset, "train_subset": train_subset,
                                           "test_subset": test_subset},
                                  "method": {"name": "traditional"},
                                  "train": {"epochs": 1, "device": device}})
    trainer = Trainer(cfg, progress=False, log=lambda s: None)
    trainer.fit()
    return cfg, trainer.model.eval()
