"""Accuracy-drop evaluation of a trained model for several attribution methods."""

from __future__ import annotations

import csv
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..data.loading import ImageTensors, channel_stats, normalize
from ..data.registry import DatasetSpec
from ..data.sharding import mix_seed
from .attribution import TITLES, make_attributor, quiet_captum
from .morf import FRACTIONS, auc, correct_after_removal

SHAP_REFERENCES = 16  # test images that serve as the Shap methods' reference distribution


@dataclass
class DropCurves:
    fractions: tuple[float, ...]
    accuracy: dict[str, list[float]] = field(default_factory=dict)  # method -> accuracy (%) per d
    num_images: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # method -> wall time of its curve

    @property
    def auc(self) -> dict[str, float]:
        return {m: auc(acc, self.fractions) for m, acc in self.accuracy.items()}

    def write_csv(self, path: str | Path) -> Path:
        path = Path(path)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["method", "removed_fraction", "accuracy_percent"])
            for method, acc in self.accuracy.items():
                for d, a in zip(self.fractions, acc):
                    w.writerow([method, d, f"{a:.4f}"])
        return path

    @classmethod
    def read_csv(cls, path: str | Path) -> "DropCurves":
        rows = list(csv.DictReader(open(path)))
        fractions = tuple(sorted({float(r["removed_fraction"]) for r in rows}))
        curves = cls(fractions)
        for r in rows:
            curves.accuracy.setdefault(r["method"], []).append(float(r["accuracy_percent"]))
        return curves

    def table(self) -> str:
        lines = ["method | AUC | " + " | ".join(f"{d:.1f}" for d in self.fractions)]
        for method, acc in self.accuracy.items():
            lines.append(f"{TITLES.get(method, method)} | {self.auc[method]:.2f} | "
                         + " | ".join(f"{a:.1f}" for a in acc))
        return "\n".join(lines)


def accuracy_drop(model: nn.Module, data: ImageTensors, spec: DatasetSpec, methods: list[str], *,
                  device: torch.device, batch_size: int = 500, seed: int = 0,
                  progress: bool = False) -> DropCurves:
    """MoRF curves of `model` on `data` for each attribution method (batched on `device`)."""
    model = model.to(device).eval()
    mean, std = channel_stats(spec, device)
    images, labels = data.images.to(device), data.labels.to(device)
    gen = torch.Generator().manual_seed(seed)
    ref_idx = torch.randperm(len(data), generator=gen)[:SHAP_REFERENCES].to(device)
    references = normalize(images[ref_idx], mean, std)
    curves = DropCurves(FRACTIONS, num_images=len(data))
    with quiet_captum():
        for i, name in enumerate(methods):
            # Noise of SmoothGrad and the Shap methods, Random's draws: Captum draws from torch's,
            # NumPy's and Python's global generators.
            method_seed = mix_seed(seed, i)
            torch.manual_seed(method_seed)
            np.random.seed(method_seed % 2**32)
            random.seed(method_seed)
            attribute = make_attributor(name, model, references, batch_size=batch_size)
            correct = torch.zeros(len(FRACTIONS), dtype=torch.long, device=device)
            tick = time.perf_counter()
            for start in tqdm(range(0, len(data), batch_size), desc=f"{TITLES[name]:>19}",
                              unit="batch", disable=not progress, leave=False, mininterval=2.0):
                x = normalize(images[start:start + batch_size], mean, std)
                y = labels[start:start + batch_size]
                correct += correct_after_removal(model, x, y, attribute(x, y))
            curves.accuracy[name] = (100.0 * correct.double() / len(data)).tolist()
            curves.seconds[name] = time.perf_counter() - tick
    return curves


def grad_auc(model: nn.Module, shard: ImageTensors, total: int, spec: DatasetSpec,
             all_reduce: Callable[[torch.Tensor], torch.Tensor], batch_size: int = 500) -> float:
    """Grad MoRF AUC over images sharded across ranks: this rank scores `shard`, the correct
    counts are summed by `all_reduce`; `total` images in all."""
    model.eval()
    device = next(model.parameters()).device
    mean, std = channel_stats(spec, device)
    correct = torch.zeros(len(FRACTIONS), dtype=torch.float64, device=device)
    with quiet_captum():
        attribute = make_attributor("grad", model, batch_size=batch_size)
        for start in range(0, len(shard), batch_size):
            x = normalize(shard.images[start:start + batch_size].to(device), mean, std)
            y = shard.labels[start:start + batch_size].to(device)
            correct += correct_after_removal(model, x, y, attribute(x, y)).double()
    correct = all_reduce(correct)
    return auc((100.0 * correct / total).tolist())
