"""Training-time saliency: d log p(x)_y / dx, one value per pixel."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def input_saliency(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   use_abs: bool = False) -> torch.Tensor:
    """Gradient of the label's log-probability w.r.t. the input, averaged over channels.

    Taken with the model in eval mode (dropout off, BatchNorm on running stats), as the SGT
    reference does; the mode is restored afterwards. Only the input gets a gradient, so
    parameter .grad buffers are untouched. Pass the plain module, not a DDP wrapper: this
    pass must not take part in DDP's gradient reduction. Returns (B, H*W).
    """
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            log_p = F.log_softmax(model(x), dim=1)
            (grad,) = torch.autograd.grad(log_p.gather(1, y[:, None]).sum(), x)
    finally:
        model.train(was_training)
    if use_abs:
        grad = grad.abs()
    return grad.mean(dim=1).flatten(1)
