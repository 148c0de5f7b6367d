"""Sanity checks of an attribution method: does the explanation depend on what it should?

- model-parameter randomisation (MPRT, Adebayo et al. 2018): the layers' weights are
  re-initialised cumulatively from the output layer down (each layer's own `reset_parameters`,
  the initialisation it was built with, seeded per step), the attribution recomputed after each
  step and compared with the trained model's: Spearman rank correlation and SSIM of |a| per
  image. Step 0 (nothing randomised) is 1 by construction. A trustworthy method falls towards 0
  as the weights go; one that stays high ignores the model (an edge detector would).
- random logit (Sixt et al. 2020): SSIM between the attribution of the true class and that of
  another class drawn at random (seeded). Lower: the explanation depends on the class.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .similarity import spearman, ssim
from ...attribution.registry import Attribute
from ..registry import Column, Metric, MethodBatch, register_metric



def randomisation_order(model: nn.Module) -> list[str]:
    """The layers that hold weights, from the output down: the modules with parameters of their
    own and a `reset_parameters`, in reverse order of definition."""
    named = [name for name, m in model.named_modules()
             if hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False))]
    return named[::-1]


@dataclass
class RandomisationCurves:
    layers: list[str]  # randomised at steps 1..L, in this order
    spearman: torch.Tensor  # (L + 1, B): step 0 = the trained model
    ssim: torch.Tensor  # (L + 1, B)


def model_parameter_randomisation(model: nn.Module, make_attribute: Callable[[nn.Module], Attribute],
                                  x: torch.Tensor, y: torch.Tensor, seed: int = 0,
                                  before_each: Callable[[int], None] | None = None
                                  ) -> RandomisationCurves:
    """The similarity curves of one batch. `make_attribute(model)` builds the attribution
    function for a model; `before_each(step)` seeds the attribution's own draws (noise-based
    methods), so that the same step draws the same noise whatever else ran before."""
    h, w = x.shape[2], x.shape[3]
    randomised = copy.deepcopy(model).eval()
    modules = dict(randomised.named_modules())
    layers = randomisation_order(randomised)

    def attribution(m: nn.Module, step: int) -> torch.Tensor:
        if before_each is not None:
            before_each(step)
        return make_attribute(m)(x, y).detach()

    reference = attribution(model, 0)
    rho, structure = [torch.ones(len(x))], [torch.ones(len(x))]
    for step, name in enumerate(layers, start=1):
        torch.manual_seed(seed * 1_000_003 + step)  # the same weights for every batch
        with torch.no_grad():
            modules[name].reset_parameters()
        now = attribution(randomised, step)
        rho.append(spearman(reference, now).cpu())
        structure.append(ssim(reference.view(-1, h, w), now.view(-1, h, w)).cpu())
    return RandomisationCurves(layers, torch.stack(rho), torch.stack(structure))


def other_classes(y: torch.Tensor, num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """For each label, a different class drawn uniformly from the other num_classes - 1."""
    shift = torch.randint(1, num_classes, y.shape, generator=generator).to(y.device)
    return (y + shift) % num_classes


def random_logit(attribute: Attribute, x: torch.Tensor, y: torch.Tensor, num_classes: int,
                 generator: torch.Generator, reference: torch.Tensor | None = None) -> torch.Tensor:
    """SSIM of the true class's attribution with a random other class's, per image (B,).
    `reference`: the true class's attribution, where the caller has it already."""
    h, w = x.shape[2], x.shape[3]
    true = attribute(x, y).detach() if reference is None else reference
    other = attribute(x, other_classes(y, num_classes, generator)).detach()
    return ssim(true.view(-1, h, w), other.view(-1, h, w))


def _mprt(mb: MethodBatch) -> dict[str, torch.Tensor]:
    b = mb.batch
    curves = model_parameter_randomisation(b.model, mb.attributor, b.x, b.y, seed=b.seed,
                                           before_each=lambda step: mb.draw(10 + step))
    return {"mprt_spearman": curves.spearman, "mprt_ssim": curves.ssim}


def _random_logit(mb: MethodBatch) -> dict[str, torch.Tensor]:
    b = mb.batch
    return {"random_logit": random_logit(mb.attribute, b.x, b.y, b.spec.num_classes, mb.draw(1),
                                         reference=mb.a)}


# MPRT's table number is the Spearman curve's last step: everything randomised
register_metric(Metric(
    "mprt", "randomisation", "model-parameter randomisation",
    (Column("mprt_spearman", higher_is_better=False, curve=True),
     Column("mprt_ssim", higher_is_better=False, curve=True),
     Column("mprt", "MPRT", False, last_of="mprt_spearman")), per_method=_mprt))
register_metric(Metric("random_logit", "randomisation", "the explained class randomised",
                       (Column("random_logit", "Random logit", False),),
                       per_method=_random_logit))
