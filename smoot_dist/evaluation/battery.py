"""The evaluation battery beside the drop curves: every metric the registry declares with a
function (metrics/registry.py: randomisation, localisation, robustness, complexity, the model's
own robustness), for each attribution method, over the batches of a test split.

Like drop.py's counts, everything comes back as sums over images (float64), so that the batches
can be dealt to any number of processes and the sums added: every random draw (perturbations,
the random class, PGD's start, the attribution's own noise) is seeded from (seed, the metric's
stream, method, batch start), and MPRT's randomised weights from (seed, step) alone. Means are
sums / images (`means`).

Keys: `<column>_<method>` (e.g. `relevance_mass_grad`, `max_sensitivity_random`), the curves
`mprt_spearman_<method>` and `mprt_ssim_<method>` (one value per randomisation step), and the
method-free columns `object_share` and `pgd_accuracy` (a share of correct images, not a
percentage).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..foundations.catalog import DatasetSpec
from ..data.decoy import Decoy
from ..data.loading import ImageTensors, channel_stats, normalize
from ..data.sharding import mix_seed
from ..foundations.errors import ConfigError
from ..foundations.progress import Progress, with_progress
from ..metrics import battery_metrics, get_metric
from ..metrics.localisation import object_masks
from ..metrics.model_robustness import PGD_STEPS
from ..metrics.registry import Batch, MethodBatch
from ..metrics.robustness import (INFIDELITY_SAMPLES, INFIDELITY_STD, SENSITIVITY_RADIUS,
                                  SENSITIVITY_SAMPLES)
from ..attribution.methods import make_attributor, quiet_captum, saliency_model, seed_all
from ..metrics.faithfulness.drop import shap_references

Sums = dict[str, torch.Tensor]


@dataclass(frozen=True)
class BatteryOptions:
    sensitivity_radius: float = SENSITIVITY_RADIUS
    sensitivity_samples: int = SENSITIVITY_SAMPLES
    infidelity_std: float = INFIDELITY_STD
    infidelity_samples: int = INFIDELITY_SAMPLES
    pgd_eps: float | None = None  # None: 0.1 for grey images, 8/255 for colour
    pgd_steps: int = PGD_STEPS


def check_metrics(names: list[str]) -> list[str]:
    known = battery_metrics()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown metric(s) {', '.join(unknown)}; choose from: "
                          f"{', '.join(known)}")
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
    chosen = [get_metric(m) for m in metrics]
    with quiet_captum():
        for start in with_progress(starts, "battery", progress):
            raw = data.images[start:start + batch_size].to(device)
            y = data.labels[start:start + batch_size].to(device)
            sums["images"] += len(y)
            rows = torch.arange(start, min(start + batch_size, len(data)))
            decoy = data.decoy.select(rows).to(device) if data.decoy is not None else None
            batch = Batch(explained, model, raw, normalize(raw, mean, std), y,
                          masks[start:start + batch_size].to(device) if masks is not None
                          else _objects(raw, decoy), spec, options, mean, std, seed,
                          lambda stream, start=start: _seed_everything(mix_seed(seed, stream, start)),
                          decoy)
            for metric in chosen:
                if metric.per_batch is not None:
                    _add_all(sums, metric.per_batch(batch), "")
            for i, name in enumerate(methods):
                _method_sums(sums, batch, name, chosen, attributor, i, start)
    return sums


def _objects(raw: torch.Tensor, decoy: Decoy | None) -> torch.Tensor:
    """A built-in image's object: its pixels above its background; on a decoy dataset, those of
    the clean image, off the patch."""
    if decoy is None:
        return object_masks(raw)
    return object_masks(decoy.views["clean"]) & ~decoy.region


def _add_all(sums: Sums, values: dict[str, torch.Tensor], suffix: str) -> None:
    for key, v in values.items():
        _add(sums, f"{key}{suffix}", v)


def _method_sums(sums: Sums, batch: Batch, name: str, chosen: list, attributor: Callable,
                 i: int, start: int) -> None:
    """Each chosen metric's values for one attribution method on one batch; the draws of each
    seeded from (seed, the metric's stream, the method's place, the batch's start)."""
    def draw(stream: int) -> torch.Generator:
        return _seed_everything(mix_seed(batch.seed, stream, i, start))

    attribute = attributor(name, batch.model)
    draw(0)
    a = attribute(batch.x, batch.y).detach()
    maps = MethodBatch(batch, name, attribute, lambda m: attributor(name, m), a, draw)
    for metric in chosen:
        if metric.per_method is not None:
            _add_all(sums, metric.per_method(maps), f"_{name}")


def means(sums: Sums) -> dict[str, float | list[float]]:
    """Each key's mean over the images: a number, or a curve (MPRT's steps)."""
    n = float(sums["images"])
    return {key: (total / n).tolist() for key, total in sums.items() if key != "images"}
