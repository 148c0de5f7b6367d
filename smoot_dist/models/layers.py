"""Layers of the papers' CNN computed faster on a CPU, with the results of torch's own.

Measured on this project's 2-core AVX-512 machine (bench/profile_step.py, bf16 SMOOT step at
batch 256): nn.Dropout's bernoulli_ mask took 14% of the step, three times the cost of uniform
draws and a compare. (The NCHW max-pool forward, 17%, is 4x faster on a channels-last copy,
but copying the 19 MB activation costs as much as that saves: measured, no faster step.)
"""

from __future__ import annotations

import torch
from torch import nn


class UniformDropout(nn.Dropout):
    """nn.Dropout whose keep mask is uniform draws below the keep probability: the same
    distribution and the same scaling (1/keep in the input's dtype, as nn.Dropout), drawn in
    fp32 whatever the input's dtype, so that under bf16 autocast the keep probability is not
    rounded. The mask stream differs from nn.Dropout's: a seed gives another, equally
    distributed, mask."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        scale = (torch.rand(x.shape, device=x.device) < keep).to(x.dtype).mul_(1.0 / keep)
        return x * scale
