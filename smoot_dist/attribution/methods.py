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

import numpy as np
import torch
from torch import nn

from ..foundations.errors import UserError
from ..foundations.signals import interrupt_behind
from ..models.inference import in_chunks, on_cpu_in_slices
from .registry import Attribute, Build, get_attribution, register_attribution

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
                    batch_size: int = 500) -> Attribute:
    """A function (x, y) -> |attribution| averaged over channels, (B, H*W). `model` in eval mode.

    `batch_size` bounds the images that go through the model at once, also inside methods that
    multiply the batch (noise samples, integration steps, Shap references), so that memory stays
    that of a `batch_size` forward and backward pass.
    """
    method = get_attribution(name)
    if method.needs_references and shap_references is None:
        raise ValueError(f"{name} needs reference images")
    return method.build(model, Build(import_captum(), shap_references, batch_size))


def per_pixel(attr: torch.Tensor) -> torch.Tensor:
    """Captum's (B, C, H, W) attribution -> |a| averaged over channels, (B, H*W)."""
    return attr.detach().abs().mean(dim=1).flatten(1)


# The built-in methods, in the order tables list them.

@register_attribution("grad", "Grad")
def _grad(model: nn.Module, b: Build) -> Attribute:
    method = b.captum.Saliency(model)
    # each image's gradient is its own: on a CPU a slice at a time is faster (models/inference.py)
    return on_cpu_in_slices(lambda x, y: per_pixel(method.attribute(x, target=y, abs=True)))


@register_attribution("smoothgrad", "SmoothGrad")
def _smoothgrad(model: nn.Module, b: Build) -> Attribute:
    tunnel = b.captum.NoiseTunnel(b.captum.Saliency(model))
    return in_chunks(lambda x, y: per_pixel(tunnel.attribute(
        x, target=y, nt_type="smoothgrad_sq", nt_samples=SMOOTHGRAD_SAMPLES,
        stdevs=SMOOTHGRAD_STDEV * float(x.std()), abs=True)),
        max(1, b.batch_size // SMOOTHGRAD_SAMPLES))


@register_attribution("integrated_gradients", "IntegratedGradients")
def _integrated_gradients(model: nn.Module, b: Build) -> Attribute:
    ig = b.captum.IntegratedGradients(model)
    return lambda x, y: per_pixel(ig.attribute(x, baselines=background(x), target=y,
                                               n_steps=IG_STEPS, internal_batch_size=b.batch_size))


@register_attribution("deeplift", "DeepLift")
def _deeplift(model: nn.Module, b: Build) -> Attribute:
    dl = b.captum.DeepLift(model)
    return in_chunks(lambda x, y: per_pixel(dl.attribute(x, baselines=background(x), target=y)),
                     max(1, b.batch_size // 2))  # inputs and baselines go through together


@register_attribution("gradient_shap", "GradientShap", needs_references=True)
def _gradient_shap(model: nn.Module, b: Build) -> Attribute:
    gs = b.captum.GradientShap(model)
    return in_chunks(lambda x, y: per_pixel(gs.attribute(
        x, baselines=b.references, target=y, n_samples=SHAP_SAMPLES)),
        max(1, b.batch_size // SHAP_SAMPLES))


@register_attribution("deeplift_shap", "DeepLiftShap", needs_references=True)
def _deeplift_shap(model: nn.Module, b: Build) -> Attribute:
    dls = b.captum.DeepLiftShap(model)
    return in_chunks(lambda x, y: per_pixel(dls.attribute(x, baselines=b.references, target=y)),
                     max(1, b.batch_size // (2 * len(b.references))))


@register_attribution("random", "Random")
def _random(model: nn.Module, b: Build) -> Attribute:
    return lambda x, y: torch.rand(x.shape[0], x.shape[2] * x.shape[3], device=x.device)
