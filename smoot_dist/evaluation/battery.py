"""The evaluation battery beside the drop curves: sanity, localisation, robustness, complexity
and the model's own robustness, for each attribution method, over the batches of a test split.

Like drop.py's counts, everything comes back as sums over images (float64), so that the batches
can be dealt to any number of processes and the sums added: every random draw (perturbations,
the random class, PGD's start, the attribution's own noise) is seeded from (seed, metric family,
method, batch start), and MPRT's randomised weights from (seed, step) alone. Means are
sums / images (`means`).

Keys: `<metric>_<method>` (e.g. `relevance_mass_grad`, `max_sensitivity_random`), the MPRT curves
`mprt_spearman_<method>` and `mprt_ssim_<method>` (one value per randomisation step), and the
method-free `object_share` and `pgd_accuracy` (a share of correct images, not a percentage).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..catalog import DatasetSpec
from ..data.loading import ImageTensors, channel_stats, normalize
from ..data.sharding import mix_seed
from ..errors import ConfigError
from ..progress import Progress, with_progress
from ..metrics import complexity, localisation, robustness
from ..metrics import model_robustness as adversarial
from ..metrics.randomisation import sanity
from ..attribution.methods import make_attributor, quiet_captum, saliency_model, seed_all
from ..metrics.faithfulness.drop import shap_references
from .protocol import BATTERY, HIGHER_IS_BETTER  # noqa: F401  (re-exported)

LOCALISATION_KEYS = ("relevance_mass", "relevance_rank", "pointing_game")

Sums = dict[str, torch.Tensor]


@dataclass(frozen=True)
class BatteryOptions:
    sensitivity_radius: float = robustness.SENSITIVITY_RADIUS
    sensitivity_samples: int = robustness.SENSITIVITY_SAMPLES
    infidelity_std: float = robustness.INFIDELITY_STD
    infidelity_samples: int = robustness.INFIDELITY_SAMPLES
    pgd_eps: float | None = None  # None: 0.1 for grey images, 8/255 for colour
    pgd_steps: int = adversarial.PGD_STEPS


def check_metrics(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in BATTERY]
    if unknown:
        raise ConfigError(f"unknown metric(s) {', '.join(unknown)}; choose from: "
                          f"{', '.join(BATTERY)}")
    return names


def _seed_everything(batch_seed: int) -> torch.Generator:
    """Captum's generators seeded, and ours returned, from one batch seed."""
    seed_all(batch_seed)
    return torch.Generator().manual_seed(batch_seed)


def _add(sums: Sums, key: str, values: torch.Tensor) -> None:
    """Sum over the batch's images (the last axis) into sums[key]."""
    total = values.double().sum(dim=-1).cpu()
    sums[key] = sums[key] + total if key in sums else total


def battery_sums(model: nn.Module, data: ImageTensors, spec: DatasetSpec, methods: list[str],
                 metrics: list[str], *, device: torch.device, batch_size: int = 500,
                 seed: int = 0, saliency_target: str = "logit",
                 options: BatteryOptions = BatteryOptions(), starts: list[int] | None = None,
                 masks: torch.Tensor | None = None, progress: Progress = None) -> Sums:
    """The sums over the batches of `data` beginning at `starts` (default: all). `masks`
    (N, H*W) bool: the objects of a user's images, where the data has them (default: the
    pixels above each image's background, object_masks)."""
    check_metrics(metrics)
    model = model.to(device).eval()
    explained = saliency_model(model, saliency_target)
    mean, std = channel_stats(spec, device)
    starts = list(range(0, len(data), batch_size)) if starts is None else starts
    sums: Sums = {"images": torch.zeros((), dtype=torch.float64)}
    references = shap_references(data.images, seed, mean, std)  # as the drop curves draw them

    def attributor(name: str, m: nn.Module) -> Callable:
        return make_attributor(name, m, references, batch_size=batch_size)
    with quiet_captum():
        for start in with_progress(starts, "battery", progress):
            raw = data.images[start:start + batch_size].to(device)
            y = data.labels[start:start + batch_size].to(device)
            x = normalize(raw, mean, std)
            sums["images"] += len(y)
            mask = (masks[start:start + batch_size].to(device) if masks is not None
                    else localisation.object_masks(raw))
            if "localisation" in metrics:
                _add(sums, "object_share", localisation.object_share(mask))
            if "pgd" in metrics:
                eps = options.pgd_eps if options.pgd_eps is not None else \
                    adversarial.default_eps(spec.channels)
                correct = adversarial.pgd_correct(
                    model, raw.float() / 255, y, lambda p: (p - mean) / std, eps,
                    _seed_everything(mix_seed(seed, 101, start)), steps=options.pgd_steps)
                _add(sums, "pgd_accuracy", correct.float())
            for i, name in enumerate(methods):
                _method_sums(sums, name, metrics, explained, attributor, x, y, mask, spec,
                             options, lambda family: mix_seed(seed, family, i, start), seed)
    return sums


def _method_sums(sums: Sums, name: str, metrics: list[str], model: nn.Module,
                 attributor: Callable, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
                 spec: DatasetSpec, options: BatteryOptions, batch_seed: Callable[[int], int],
                 seed: int) -> None:
    attribute = attributor(name, model)
    _seed_everything(batch_seed(0))
    a = attribute(x, y).detach()
    if "sparseness" in metrics:
        _add(sums, f"sparseness_{name}", complexity.sparseness(a))
    if "complexity" in metrics:
        _add(sums, f"complexity_{name}", complexity.complexity(a))
    if "localisation" in metrics:
        for key in LOCALISATION_KEYS:
            _add(sums, f"{key}_{name}", getattr(localisation, key)(a, mask))
    if "random_logit" in metrics:
        gen = _seed_everything(batch_seed(1))
        _add(sums, f"random_logit_{name}",
             sanity.random_logit(attribute, x, y, spec.num_classes, gen, reference=a))
    # The perturbed copies below go through the model a batch's rows at a time (at most
    # --batch-size): on a CPU, Grad makes 1570 maps/s in chunks of 200, 1100 in chunks of 500.
    if "max_sensitivity" in metrics:
        gen = _seed_everything(batch_seed(2))
        _add(sums, f"max_sensitivity_{name}", robustness.max_sensitivity(
            attribute, x, y, gen, options.sensitivity_radius, options.sensitivity_samples,
            rows=len(x), reference=a))
    if "infidelity" in metrics:
        gen = _seed_everything(batch_seed(3))
        _add(sums, f"infidelity_{name}", robustness.infidelity(
            model, a, x, y, gen, options.infidelity_std, options.infidelity_samples, rows=len(x)))
    if "mprt" in metrics:
        curves = sanity.model_parameter_randomisation(
            model, lambda m: attributor(name, m), x, y, seed=seed,
            before_each=lambda step: _seed_everything(batch_seed(10 + step)))
        _add(sums, f"mprt_spearman_{name}", curves.spearman)
        _add(sums, f"mprt_ssim_{name}", curves.ssim)


def means(sums: Sums) -> dict[str, float | list[float]]:
    """Each key's mean over the images: a number, or a curve (MPRT's steps)."""
    n = float(sums["images"])
    return {key: (total / n).tolist() for key, total in sums.items() if key != "images"}
