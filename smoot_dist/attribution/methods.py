"""Attribution methods by name, through Captum, as one |attribution| value per pixel.

Baselines: Integrated Gradients and DeepLift start from the image's background (its minimum,
the value MoRF removal fills in); the Shap methods draw their references from a fixed set of
test images (the "expected value" reference). Noise-based methods and Random draw from torch's
global generator: seed it before a call for deterministic results.
"""

from __future__ import annotations

import contextlib
import random
import warnings
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..choices import choose_names, split_names
from ..errors import ConfigError, UserError
from ..signals import interrupt_behind

ATTRIBUTION_METHODS = ("grad", "smoothgrad", "integrated_gradients", "deeplift",
                       "gradient_shap", "deeplift_shap", "random")
TITLES = {"grad": "Grad", "smoothgrad": "SmoothGrad", "integrated_gradients": "IntegratedGradients",
          "deeplift": "DeepLift", "gradient_shap": "GradientShap", "deeplift_shap": "DeepLiftShap",
          "random": "Random"}

# Settings of the noisy / path methods (Captum's defaults where they are sensible).
SMOOTHGRAD_SAMPLES, SMOOTHGRAD_STDEV = 10, 0.15  # stdev in units of the input's (standardised) scale
IG_STEPS = 32
SHAP_SAMPLES = 8


@contextlib.contextmanager
def quiet_captum():
    """Captum announces, on every call, that it sets requires_grad and hooks: expected here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"captum\.")
        yield


def parse_methods(text: str | list[str], flag: str = "--methods") -> list[str]:
    """Attribution methods from a comma list (or a list); 'all', or none named: every one."""
    names = split_names(",".join(text) if isinstance(text, list) else text)
    if names in (["all"], []):
        return list(ATTRIBUTION_METHODS)
    return choose_names(",".join(names), ATTRIBUTION_METHODS, "attribution method", flag,
                        " (or all)")


SALIENCY_TARGETS = ("logit", "logprob")


class LogProbabilities(nn.Module):
    """The model's log-softmax: what the SGT reference's MNIST network returns, so its Captum
    Grad is the gradient of the label's log-probability, not of its logit."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.model(x), dim=1)


def saliency_model(model: nn.Module, target: str) -> nn.Module:
    """What attributions differentiate: the logits (ours, the default) or the log-probabilities."""
    return LogProbabilities(model) if target == "logprob" else model


def background(x: torch.Tensor) -> torch.Tensor:
    """Each image filled with its own minimum (B, C, H, W)."""
    return x.flatten(1).amin(1).view(-1, 1, 1, 1).expand_as(x).contiguous()


def seed_all(seed: int) -> None:
    """Seed the generators Captum draws from: torch's, NumPy's and Python's global ones."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def in_chunks(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], rows: int
               ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Apply `fn` to at most `rows` images at a time (methods that expand the batch internally)."""
    def chunked(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if len(x) <= rows:
            return fn(x, y)
        return torch.cat([fn(x[i:i + rows], y[i:i + rows]) for i in range(0, len(x), rows)])
    return chunked


def import_captum():
    """`captum.attr`, imported. Ctrl-C or SIGTERM landing inside the import stays an interrupt
    (signals.interrupt_behind) rather than reading as "Captum is not installed"."""
    try:
        import captum.attr
    except ImportError as err:
        interrupt = interrupt_behind(err)
        if interrupt is not None:
            raise interrupt from None
        raise UserError("Captum is not installed here; install it (pip install captum)") from None
    return captum.attr


def make_attributor(name: str, model: nn.Module, shap_references: torch.Tensor | None = None,
                    batch_size: int = 500) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A function (x, y) -> |attribution| averaged over channels, (B, H*W). `model` in eval mode.

    `batch_size` bounds the images that go through the model at once, also inside methods that
    multiply the batch (noise samples, integration steps, Shap references), so that memory stays
    that of a `batch_size` forward and backward pass.
    """
    attr = import_captum()
    DeepLift, DeepLiftShap, GradientShap = attr.DeepLift, attr.DeepLiftShap, attr.GradientShap
    IntegratedGradients, NoiseTunnel, Saliency = attr.IntegratedGradients, attr.NoiseTunnel, attr.Saliency

    def per_pixel(attr: torch.Tensor) -> torch.Tensor:
        return attr.detach().abs().mean(dim=1).flatten(1)

    if name == "grad":
        method = Saliency(model)
        return lambda x, y: per_pixel(method.attribute(x, target=y, abs=True))
    if name == "smoothgrad":
        tunnel = NoiseTunnel(Saliency(model))
        return in_chunks(lambda x, y: per_pixel(tunnel.attribute(
            x, target=y, nt_type="smoothgrad_sq", nt_samples=SMOOTHGRAD_SAMPLES,
            stdevs=SMOOTHGRAD_STDEV * float(x.std()), abs=True)),
            max(1, batch_size // SMOOTHGRAD_SAMPLES))
    if name == "integrated_gradients":
        ig = IntegratedGradients(model)
        return lambda x, y: per_pixel(ig.attribute(x, baselines=background(x), target=y,
                                                   n_steps=IG_STEPS, internal_batch_size=batch_size))
    if name == "deeplift":
        dl = DeepLift(model)
        return in_chunks(lambda x, y: per_pixel(dl.attribute(x, baselines=background(x), target=y)),
                          max(1, batch_size // 2))  # inputs and baselines go through together
    if name in ("gradient_shap", "deeplift_shap"):
        if shap_references is None:
            raise ValueError(f"{name} needs reference images")
        if name == "gradient_shap":
            gs = GradientShap(model)
            return in_chunks(lambda x, y: per_pixel(gs.attribute(
                x, baselines=shap_references, target=y, n_samples=SHAP_SAMPLES)),
                max(1, batch_size // SHAP_SAMPLES))
        dls = DeepLiftShap(model)
        return in_chunks(lambda x, y: per_pixel(dls.attribute(x, baselines=shap_references, target=y)),
                          max(1, batch_size // (2 * len(shap_references))))
    if name == "random":
        return lambda x, y: torch.rand(x.shape[0], x.shape[2] * x.shape[3], device=x.device)
    raise ConfigError(f"unknown attribution method {name!r}")
