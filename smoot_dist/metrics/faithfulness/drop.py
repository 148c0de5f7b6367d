"""Accuracy-drop evaluation of a trained model for several attribution methods."""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ...data.loading import ImageTensors, channel_stats, normalize
from ...foundations.catalog import DatasetSpec
from ...data.sharding import mix_seed
from ...foundations.progress import Progress, with_progress
from ...attribution import title as method_title
from ...attribution.methods import make_attributor, quiet_captum, saliency_model, seed_all
from .morf import FRACTIONS, auc, correct_after_removal, srg
from ..registry import Metric, register_metric

SHAP_REFERENCES = 16  # test images that serve as the Shap methods' reference distribution


@dataclass
class DropCurves:
    fractions: tuple[float, ...]
    accuracy: dict[str, list[float]] = field(default_factory=dict)  # method -> MoRF accuracy (%) per d
    num_images: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # method -> wall time of its curves
    lerf: dict[str, list[float]] = field(default_factory=dict)  # method -> LeRF accuracy (%) per d
    fill: str = "background"

    @property
    def auc(self) -> dict[str, float]:
        """MoRF AUC per method (lower is better)."""
        return {m: auc(acc, self.fractions) for m, acc in self.accuracy.items()}

    @property
    def lerf_auc(self) -> dict[str, float]:
        return {m: auc(acc, self.fractions) for m, acc in self.lerf.items()}

    @property
    def srg(self) -> dict[str, float]:
        """AUC(LeRF) - AUC(MoRF) for the methods with both curves (higher is better)."""
        return {m: srg(self.lerf_auc[m], self.auc[m]) for m in self.lerf if m in self.accuracy}

    def write_csv(self, path: str | Path) -> Path:
        path = Path(path)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["method", "removed_fraction", "accuracy_percent", "order"])
            for order, curves in (("morf", self.accuracy), ("lerf", self.lerf)):
                for method, acc in curves.items():
                    for d, a in zip(self.fractions, acc):
                        w.writerow([method, d, f"{a:.4f}", order])
        return path

    @classmethod
    def read_csv(cls, path: str | Path) -> "DropCurves":
        rows = list(csv.DictReader(open(path)))
        fractions = tuple(sorted({float(r["removed_fraction"]) for r in rows}))
        curves = cls(fractions)
        for r in rows:  # files from before LeRF have no order column: MoRF
            target = curves.lerf if r.get("order") == "lerf" else curves.accuracy
            target.setdefault(r["method"], []).append(float(r["accuracy_percent"]))
        return curves

    def table(self) -> str:
        """One row per method and order: the AUC (and SRG with LeRF) and the curve."""
        with_lerf = bool(self.lerf)
        head = "method | order | AUC | " + ("SRG | " if with_lerf else "")
        lines = [head + " | ".join(f"{d:.1f}" for d in self.fractions)]
        for order, curves, aucs in (("MoRF", self.accuracy, self.auc), ("LeRF", self.lerf, self.lerf_auc)):
            for method, acc in curves.items():
                gain = f"{self.srg[method]:.2f} | " if with_lerf and method in self.srg else (
                    "- | " if with_lerf else "")
                lines.append(f"{method_title(method)} | {order} | {aucs[method]:.2f} | {gain}"
                             + " | ".join(f"{a:.1f}" for a in acc))
        return "\n".join(lines)


Counts = dict[tuple[str, str], torch.Tensor]  # (method, order) -> correct count per fraction


def shap_references(images: torch.Tensor, seed: int, mean: torch.Tensor, std: torch.Tensor
                    ) -> torch.Tensor:
    """The Shap methods' references: SHAP_REFERENCES of the uint8 `images`, drawn from (seed)
    over all of them (so every process that scores a share of the batches has the same ones),
    normalised on the device of `mean`."""
    gen = torch.Generator().manual_seed(seed)
    ref_idx = torch.randperm(len(images), generator=gen)[:SHAP_REFERENCES].to(images.device)
    return normalize(images[ref_idx].to(mean.device), mean, std)


def batch_starts(num_images: int, batch_size: int) -> list[int]:
    return list(range(0, num_images, batch_size))


def drop_counts(model: nn.Module, data: ImageTensors, spec: DatasetSpec, methods: list[str], *,
                device: torch.device, batch_size: int = 500, seed: int = 0,
                orders: tuple[str, ...] = ("morf",), fill: str = "background",
                saliency_target: str = "logit", starts: list[int] | None = None,
                progress: Progress = None) -> tuple[Counts, dict[str, float]]:
    """Correct predictions after removal, per (method, order) and fraction, over the batches of
    `data` beginning at `starts` (default: all), and the seconds each method took.

    Every random draw (SmoothGrad's and the Shap methods' noise, Random's values, ROAD's noise)
    is seeded from (seed, method, batch start), and the Shap references from (seed) over the whole
    of `data`: any split of the batches between processes sums to the same counts, exactly."""
    model = model.to(device).eval()
    mean, std = channel_stats(spec, device)
    images, labels = data.images.to(device), data.labels.to(device)
    references = shap_references(images, seed, mean, std)
    starts = batch_starts(len(data), batch_size) if starts is None else starts
    counts: Counts = {}
    seconds: dict[str, float] = {}
    with quiet_captum():
        for i, name in enumerate(methods):
            attribute = make_attributor(name, saliency_model(model, saliency_target), references,
                                        batch_size=batch_size)
            for order in orders:
                counts[name, order] = torch.zeros(len(FRACTIONS), dtype=torch.long, device=device)
            tick = time.perf_counter()
            for start in with_progress(starts, method_title(name), progress):
                batch_seed = mix_seed(seed, i, start)
                seed_all(batch_seed)
                x = normalize(images[start:start + batch_size], mean, std)
                y = labels[start:start + batch_size]
                attribution = attribute(x, y)  # one attribution serves both orders
                for order in orders:
                    counts[name, order] += correct_after_removal(
                        model, x, y, attribution, order=order, fill=fill, seed=batch_seed)
            seconds[name] = time.perf_counter() - tick
    return counts, seconds


def curves_from_counts(counts: Counts, num_images: int, fill: str = "background") -> DropCurves:
    curves = DropCurves(FRACTIONS, num_images=num_images, fill=fill)
    for (name, order), correct in counts.items():
        target = curves.lerf if order == "lerf" else curves.accuracy
        target[name] = (100.0 * correct.double().cpu() / num_images).tolist()
    return curves


def accuracy_drop(model: nn.Module, data: ImageTensors, spec: DatasetSpec, methods: list[str], *,
                  device: torch.device, batch_size: int = 500, seed: int = 0,
                  progress: Progress = None, orders: tuple[str, ...] = ("morf",),
                  fill: str = "background", saliency_target: str = "logit") -> DropCurves:
    """MoRF (and LeRF) curves of `model` on `data` for each attribution method (batched on
    `device`), in this process; removed pixels filled by `fill`; attributions of the label's
    logit or log-probability (`saliency_target`), predictions from the model as it is."""
    counts, seconds = drop_counts(model, data, spec, methods, device=device, batch_size=batch_size,
                                  seed=seed, orders=orders, fill=fill,
                                  saliency_target=saliency_target, progress=progress)
    curves = curves_from_counts(counts, len(data), fill)
    curves.seconds = seconds
    return curves


def sharded_auc(model: nn.Module, shard: ImageTensors, total: int, spec: DatasetSpec,
                all_reduce: Callable[[torch.Tensor], torch.Tensor], method: str = "grad",
                batch_size: int = 500, seed: int = 0) -> float:
    """MoRF AUC (background fill) of one attribution method over images sharded across ranks:
    this rank scores `shard`, the correct counts are summed by `all_reduce`; `total` images in
    all. Random's draws are seeded from `seed` (give each rank its own)."""
    model.eval()
    device = next(model.parameters()).device
    mean, std = channel_stats(spec, device)
    correct = torch.zeros(len(FRACTIONS), dtype=torch.float64, device=device)
    with quiet_captum():
        torch.manual_seed(seed)
        attribute = make_attributor(method, model, batch_size=batch_size)
        for start in range(0, len(shard), batch_size):
            x = normalize(shard.images[start:start + batch_size].to(device), mean, std)
            y = shard.labels[start:start + batch_size].to(device)
            correct += correct_after_removal(model, x, y, attribute(x, y)).double()
    correct = all_reduce(correct)
    return auc((100.0 * correct / total).tolist())


# The drop curves are computed here for all their orders at once (drop_counts), not per batch by
# the battery: their declarations carry no function. Their numbers (auc, lerf_auc, srg) are the
# record's own columns.
register_metric(Metric("morf", "faithfulness", "accuracy-drop curve, most relevant first",
                       drop_curve=True))
register_metric(Metric("lerf", "faithfulness", "least relevant first; with morf, SRG",
                       drop_curve=True))
