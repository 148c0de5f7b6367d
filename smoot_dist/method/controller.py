"""The SMOOT controller: how each sample's masking fraction k_i adapts.

docs/method.md, "The SMOOT controller" (our reconstruction of the paper's lost equations 1-4):

    d1  = p_m[y] - p[y]                              change of the label's probability
    C   = the n-1 classes other than y with highest p
    d2n = sum_{c in C} (p_m[c] - p[c])               change on the runner-up classes
    d   = beta * d1 + (1 - beta) * d2n
    k  <- clip(k + alpha * d, k_min, k_max)

Masking that raises the label's probability pushes k up (the paper's class II images);
masking that hurts pushes it down towards k_min (class I).
"""

from __future__ import annotations

import torch


def probability_change(p: torch.Tensor, p_m: torch.Tensor, y: torch.Tensor,
                       beta: float, n: int) -> torch.Tensor:
    """d per sample, from clean and masked class probabilities (B, classes)."""
    d1 = (p_m - p).gather(1, y[:, None]).squeeze(1)
    runners_up = min(n, p.shape[1]) - 1
    if runners_up == 0:
        return beta * d1
    others = p.scatter(1, y[:, None], float("-inf"))  # exclude the label from the ranking
    top = others.topk(runners_up, dim=1).indices
    d2n = (p_m.gather(1, top) - p.gather(1, top)).sum(dim=1)
    return beta * d1 + (1.0 - beta) * d2n


def update_k(k: torch.Tensor, p: torch.Tensor, p_m: torch.Tensor, y: torch.Tensor, *,
             alpha: float, beta: float, n: int, k_min: float, k_max: float) -> torch.Tensor:
    """k_i <- clip(k_i + alpha * d_i, k_min, k_max); inputs are detached probabilities."""
    d = probability_change(p, p_m, y, beta, n)
    return (k + alpha * d.to(k.dtype)).clamp_(k_min, k_max)
