"""How concentrated an attribution is, per image, from the finished |attribution| map (B, P):
no model call. Higher sparseness and lower complexity mean an explanation a person can read.

- sparseness (Chalasani et al. 2020): the Gini index of |a|, sorted ascending,
  G = sum_i (2i - P - 1) a_(i) / (P * sum_i a_i): 0 for a constant map, 1 - 1/P for one pixel.
- complexity (Bhatt et al. 2020): the entropy (natural log) of |a| normalised to sum to 1:
  log P for a constant map, 0 for one pixel.
A map that is all zeros has no distribution: sparseness 0 and complexity log P, as a constant.
"""

from __future__ import annotations

import torch

from .registry import Column, Metric, register_metric


def sparseness(a: torch.Tensor) -> torch.Tensor:
    """The Gini index of each row of |a| (B, P) -> (B,)."""
    values = a.abs().double().sort(dim=1).values
    p = values.shape[1]
    weights = 2 * torch.arange(1, p + 1, dtype=values.dtype, device=values.device) - p - 1
    total = values.sum(dim=1)
    gini = (values * weights).sum(dim=1) / (p * total.clamp_min(torch.finfo(values.dtype).tiny))
    return torch.where(total > 0, gini, torch.zeros_like(gini)).float()


def complexity(a: torch.Tensor) -> torch.Tensor:
    """The entropy of each row of |a| (B, P) taken as a distribution -> (B,)."""
    values = a.abs().double()
    total = values.sum(dim=1, keepdim=True)
    share = torch.where(total > 0, values / total.clamp_min(torch.finfo(values.dtype).tiny),
                        torch.full_like(values, 1.0 / values.shape[1]))
    return -torch.special.xlogy(share, share).sum(dim=1).float()


register_metric(Metric("sparseness", "complexity", "Gini of the map",
                       (Column("sparseness", "Sparseness", True),),
                       per_method=lambda mb: {"sparseness": sparseness(mb.a)}))
register_metric(Metric("complexity", "complexity", "entropy of the map",
                       (Column("complexity", "Complexity", False),),
                       per_method=lambda mb: {"complexity": complexity(mb.a)}))
