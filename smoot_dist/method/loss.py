"""L = CE(f(x), y) + lambda * KL(p(x) || p(x_m)), batch means."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F


class GuidedLoss(NamedTuple):
    total: torch.Tensor
    ce: torch.Tensor
    kl: torch.Tensor
    log_p: torch.Tensor  # log-softmax of the clean branch (B, classes), in the graph
    log_p_masked: torch.Tensor  # of the masked branch


def saliency_guided_loss(logits: torch.Tensor, masked_logits: torch.Tensor, y: torch.Tensor,
                         lam: float) -> GuidedLoss:
    """Gradients flow through both branches, as in the SGT reference. Each branch's
    log-softmax is computed once and serves the CE, the KL and (returned) SMOOT's controller:
    on a GPU the small step is bound by kernel launches, not arithmetic."""
    log_p = F.log_softmax(logits, dim=1)
    log_p_masked = F.log_softmax(masked_logits, dim=1)
    ce = F.nll_loss(log_p, y)  # = cross_entropy(logits, y), whose log-softmax is log_p
    kl = F.kl_div(log_p_masked, log_p, log_target=True, reduction="batchmean")
    return GuidedLoss(ce + lam * kl, ce, kl, log_p, log_p_masked)
