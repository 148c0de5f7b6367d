"""Robustness of the model itself: test accuracy under an L-infinity PGD attack (Madry et al.
2018), in pixel units of [0, 1], with a random start and `steps` signed-gradient steps of
`eps / 4` projected back into the eps-ball and the valid pixel range. Seeded. The literature
disagrees on whether saliency-guided training makes a model more or less robust (Guesmi et al.
2024; Karkehabadi et al. 2023): this measures it. Defaults: eps 0.1 for grey images
(MNIST, Fashion-MNIST), 8/255 for colour; 20 steps.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..models.inference import forward_in_slices
from .registry import Batch, Column, Metric, register_metric

PGD_STEPS = 20


def default_eps(channels: int) -> float:
    return 0.1 if channels == 1 else 8 / 255


def pgd_correct(model: nn.Module, pixels: torch.Tensor, y: torch.Tensor,
                to_input: Callable[[torch.Tensor], torch.Tensor], eps: float,
                generator: torch.Generator, steps: int = PGD_STEPS) -> torch.Tensor:
    """(B,) bool: still classified right after the attack. `pixels` in [0, 1]; `to_input`
    turns pixels into what the model takes (the dataset's normalisation)."""
    if eps == 0:
        with torch.no_grad():
            return forward_in_slices(model, to_input(pixels)).argmax(dim=1) == y
    step = eps / 4
    delta = (torch.rand(pixels.shape, generator=generator).to(pixels) * 2 - 1) * eps
    delta = ((pixels + delta).clamp(0, 1) - pixels).detach()
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.cross_entropy(forward_in_slices(model, to_input(pixels + delta)), y,
                               reduction="sum")
        grad, = torch.autograd.grad(loss, delta)
        delta = (delta.detach() + step * grad.sign()).clamp(-eps, eps)
        delta = ((pixels + delta).clamp(0, 1) - pixels).detach()
    with torch.no_grad():
        return forward_in_slices(model, to_input(pixels + delta)).argmax(dim=1) == y


def _pgd(b: Batch) -> dict[str, torch.Tensor]:
    eps = b.options.pgd_eps if b.options.pgd_eps is not None else default_eps(b.spec.channels)
    correct = pgd_correct(b.classifier, b.raw.float() / 255, b.y, lambda p: (p - b.mean) / b.std,
                          eps, b.draw(101), steps=b.options.pgd_steps)
    return {"pgd_accuracy": correct.float()}


register_metric(Metric("pgd", "model robustness", "the model's accuracy under attack",
                       (Column("pgd_accuracy", "PGD acc.", True, per_method=False, percent=True),),
                       ("pgd_eps", "pgd_steps"), per_batch=_pgd))
