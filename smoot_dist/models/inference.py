"""A model's work over a large batch, a slice of it at a time.

`in_chunks` bounds memory: methods that expand the batch internally (Captum's noise samples and
baselines, the robustness metrics' perturbations) see at most so many images at once.

`forward_in_slices` is for speed. The evaluation's big forwards (ten removal fractions of a
500-image batch in one call, the test split in batches of 1,000) are memory-bound on a CPU: the
papers' CNN keeps about 150 KB of activations per image, so a 5,000-image forward streams
gigabytes through the caches. Measured on this project's 2-core CPU
(`python bench/forward_slices.py`), 128 images at a time ran that CNN about 1.9x faster per image
than 5,000 at once, with bit-identical logits, on 1 thread and on 2. A GPU wants the big batch,
so only a CPU forward is sliced.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

CPU_SLICE = 128  # images per forward on a CPU


def in_chunks(fn: Callable[..., torch.Tensor], rows: int) -> Callable[..., torch.Tensor]:
    """`fn` applied to at most `rows` images at a time: its batch arguments (all of one length)
    are split alike and its outputs concatenated."""
    def chunked(*batch: torch.Tensor) -> torch.Tensor:
        n = len(batch[0])
        if n <= rows:
            return fn(*batch)
        return torch.cat([fn(*(t[i:i + rows] for t in batch)) for i in range(0, n, rows)])
    return chunked


def on_cpu_in_slices(fn: Callable[..., torch.Tensor], size: int = CPU_SLICE
                     ) -> Callable[..., torch.Tensor]:
    """`fn` over its batch arguments `size` images at a time where they lie on a CPU, whole
    elsewhere. For work in which each image's result is its own (evaluation mode, no batch
    statistics, no draw shared by the batch)."""
    sliced = in_chunks(fn, size)
    return lambda *batch: sliced(*batch) if batch[0].device.type == "cpu" else fn(*batch)


def forward_in_slices(model: nn.Module, x: torch.Tensor, size: int = CPU_SLICE) -> torch.Tensor:
    """`model(x)`, a slice at a time on a CPU (on_cpu_in_slices)."""
    return on_cpu_in_slices(model, size)(x)
