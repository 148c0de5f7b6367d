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

import functools

import torch


@functools.lru_cache(maxsize=16)
def _mix(beta: float, runners_up: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(beta, 1 - beta, ..., 1 - beta): d as one product with the gathered changes."""
    return torch.tensor([beta] + [1.0 - beta] * runners_up, dtype=dtype, device=device)


def probability_change(p: torch.Tensor, p_m: torch.Tensor, y: torch.Tensor,
                       beta: float, n: int) -> torch.Tensor:
    """d per sample, from clean and masked class probabilities (B, classes).

    Written for few kernels (the GPU step is launch-bound): the change dp once; the label's and
    the runners-up's changes gathered from it together, and beta's mix of them as one
    matrix-vector product."""
    label = y[:, None]
    runners_up = min(n, p.shape[1]) - 1
    if runners_up == 0:
        columns = label
    else:
        top = p.scatter(1, label, float("-inf")).topk(runners_up, dim=1).indices  # label excluded
        columns = torch.cat([label, top], dim=1)
    return torch.mv((p_m - p).gather(1, columns), _mix(beta, runners_up, p.dtype, p.device))


def update_k(k: torch.Tensor, p: torch.Tensor, p_m: torch.Tensor, y: torch.Tensor, *,
             alpha: float, beta: float, n: int, k_min: float, k_max: float) -> torch.Tensor:
    """k_i <- clip(k_i + alpha * d_i, k_min, k_max); inputs are detached probabilities."""
    d = probability_change(p, p_m, y, beta, n)
    if d.dtype != k.dtype:
        d = d.to(k.dtype)
    return k.add(d, alpha=alpha).clamp_(k_min, k_max)
