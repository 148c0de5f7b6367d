"""Robustness and fidelity of an explanation under small input perturbations, batched: the N
perturbed copies of a batch are stacked into the batch dimension (at most `rows` images through
the model at once), never looped over one by one.

- max-sensitivity (Yeh et al. 2019; Captum's `sensitivity_max`): the largest relative change of
  the attribution, max over N draws of ||a(x + d) - a(x)||_F / ||a(x)||_F with d uniform in the
  L-infinity ball of radius r (model input units; Captum's defaults r = 0.02, N = 10). Lower is
  better; an attribution that does not change (a linear model's gradient) scores 0.
- infidelity (Yeh et al. 2019; Captum's `infidelity`, normalised): for Gaussian perturbations
  I ~ N(0, sigma^2), how far the attribution's prediction of the output change, sum(I * a), is
  from the change itself, f_y(x) - f_y(x - I): E[(beta * sum(I * a) - (f_y(x) - f_y(x - I)))^2]
  with beta the least-squares scale (so that only the attribution's shape counts, not its
  units). The per-pixel attribution weighs every channel of its pixel. Lower is better.
"""

from __future__ import annotations


import torch
from torch import nn

from ..attribution.registry import Attribute
from ..models.inference import forward_in_slices, in_chunks
from .registry import Column, Metric, MethodBatch, register_metric

SENSITIVITY_RADIUS, SENSITIVITY_SAMPLES = 0.02, 10
INFIDELITY_STD, INFIDELITY_SAMPLES = 0.1, 10


def max_sensitivity(attribute: Attribute, x: torch.Tensor, y: torch.Tensor,
                    generator: torch.Generator, radius: float = SENSITIVITY_RADIUS,
                    samples: int = SENSITIVITY_SAMPLES, rows: int = 500,
                    reference: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) per image. `reference`: a(x) where the caller has it already."""
    b = len(x)
    a = attribute(x, y).detach() if reference is None else reference
    noise = torch.rand((samples, *x.shape), generator=generator).to(x) * (2 * radius) - radius
    perturbed = (x.unsqueeze(0) + noise).flatten(0, 1)  # sample-major: row s * B + i
    moved = in_chunks(attribute, rows)(perturbed, y.repeat(samples)).detach().view(samples, b, -1)
    change = (moved - a.unsqueeze(0)).flatten(2).norm(dim=2)
    size = a.flatten(1).norm(dim=1)
    size = torch.where(size == 0, torch.ones_like(size), size)  # as Captum: an all-zero a(x)
    return (change / size).amax(dim=0)


def infidelity(model: nn.Module, attribution: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
               generator: torch.Generator, std: float = INFIDELITY_STD,
               samples: int = INFIDELITY_SAMPLES, rows: int = 500) -> torch.Tensor:
    """(B,) per image, for the per-pixel attribution (B, H*W) of x (B, C, H, W)."""
    b, c, h, w = x.shape
    noise = (torch.randn((samples, *x.shape), generator=generator) * std).to(x)

    def label_output(inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return forward_in_slices(model, inputs).gather(1, labels.view(-1, 1)).squeeze(1)

    with torch.no_grad():
        clean = label_output(x, y)
        shifted = in_chunks(label_output, rows)(
            (x.unsqueeze(0) - noise).flatten(0, 1), y.repeat(samples)).view(samples, b)
    change = (clean.unsqueeze(0) - shifted).double()
    predicted = (noise * attribution.view(1, b, 1, h, w)).flatten(2).sum(dim=2).double()
    denominator = predicted.square().mean(dim=0)
    beta = torch.where(denominator > 0, (predicted * change).mean(dim=0) /
                       denominator.clamp_min(1e-300), torch.zeros_like(denominator))
    return (beta * predicted - change).square().mean(dim=0).float()


def _max_sensitivity(mb: MethodBatch) -> dict[str, torch.Tensor]:
    b, o = mb.batch, mb.batch.options
    return {"max_sensitivity": max_sensitivity(
        mb.attribute, b.x, b.y, mb.draw(2), o.sensitivity_radius, o.sensitivity_samples,
        rows=len(b.x), reference=mb.a)}


def _infidelity(mb: MethodBatch) -> dict[str, torch.Tensor]:
    b, o = mb.batch, mb.batch.options
    return {"infidelity": infidelity(b.model, mb.a, b.x, b.y, mb.draw(3), o.infidelity_std,
                                     o.infidelity_samples, rows=len(b.x))}


# The perturbed copies go through the model a batch's rows at a time (at most --batch-size): on
# a CPU, Grad makes 1570 maps/s in chunks of 200, 1100 in chunks of 500.
register_metric(Metric("max_sensitivity", "robustness", "of the explanation",
                       (Column("max_sensitivity", "Max-sens.", False),),
                       ("sensitivity_radius", "sensitivity_samples"),
                       per_method=_max_sensitivity))
register_metric(Metric("infidelity", "robustness", "fidelity of the explanation under noise",
                       (Column("infidelity", "Infidelity", False),),
                       ("infidelity_std", "infidelity_samples"), per_method=_infidelity))
