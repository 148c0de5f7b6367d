"""L = CE(f(x), y) + lambda * KL(p(x) || p(x_m)), batch means."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def saliency_guided_loss(logits: torch.Tensor, masked_logits: torch.Tensor, y: torch.Tensor,
                         lam: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, ce, kl). Gradients flow through both branches, as in the SGT reference."""
    ce = F.cross_entropy(logits, y)
    kl = F.kl_div(F.log_softmax(masked_logits, dim=1), F.log_softmax(logits, dim=1),
                  log_target=True, reduction="batchmean")
    return ce + lam * kl, ce, kl
