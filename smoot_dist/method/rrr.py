"""RRR, "Right for the Right Reasons" (Ross et al. 2017): cross-entropy plus lambda times the
squared input gradient of the summed log-probabilities inside an annotation mask, the region the
model should not use. The gradient is taken with create_graph (double backpropagation), so the
penalty trains the weights. A reference for the decoy benchmark: it is told where the decoy is,
which SGT and SMOOT never are.

Per image: sum over the annotated pixels (all channels) of (d sum_k log p_k / d x)^2; the loss
takes the batch mean of it, as of the cross-entropy. x is the normalised input the model sees.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class RRRLoss(NamedTuple):
    total: torch.Tensor
    ce: torch.Tensor
    penalty: torch.Tensor  # the batch mean of the annotated squared gradient, in the graph
    logits: torch.Tensor


def annotated_gradient_penalty(log_p: torch.Tensor, x: torch.Tensor,
                               annotation: torch.Tensor) -> torch.Tensor:
    """(B,) per image: the squared gradient of sum_k log p_k w.r.t. x (which requires grad and
    gave log_p), summed over the channels and the annotated pixels ((B, H*W) bool)."""
    grad, = torch.autograd.grad(log_p.sum(), x, create_graph=True)
    per_pixel = grad.pow(2).sum(dim=1).flatten(1)  # (B, H*W)
    return (per_pixel * annotation.to(per_pixel.dtype)).sum(dim=1)


def rrr_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, annotation: torch.Tensor,
             lam: float) -> RRRLoss:
    x = x.detach().requires_grad_(True)
    logits = model(x)
    if logits.dtype in (torch.float16, torch.bfloat16):  # under autocast; float64 stays
        logits = logits.float()
    log_p = F.log_softmax(logits, dim=1)
    ce = F.nll_loss(log_p, y)
    penalty = annotated_gradient_penalty(log_p, x, annotation).mean()
    return RRRLoss(ce + lam * penalty, ce, penalty, logits)
