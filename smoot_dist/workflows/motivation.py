"""The paper's motivation experiment (section 2.3, Figure 1).

Mask an increasing fraction of each test image's HIGHEST-gradient pixels (background fill) and
follow the probability of its label. Most curves fall from the start ("class I"); some first rise
and then fall ("class II": the model was also looking at pixels that hurt it), which is why the
best masking fraction is image dependent. The paper found 16% of CIFAR-10 test images in class II.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import JobConfig, merge
from ..data.loading import ImageTensors, channel_stats, load_splits, normalize
from ..foundations.catalog import DatasetSpec, dataset_label
from ..foundations.files import StagedFolder, write_json
from ..foundations.home import output_dir
from ..method.saliency import input_saliency
from ..metrics.faithfulness.morf import remove_most_relevant
from ..models.inference import forward_in_slices
from ..plots.curves import plot_motivation
from ..training.trainer import Trainer, resolve_device
from ..evaluation.trained_run import load_trained

FRACTIONS = tuple(round(0.05 * i, 2) for i in range(20))  # 0, 5%, ..., 95%


@torch.no_grad()
def _label_probability(model: nn.Module, x: torch.Tensor, y: torch.Tensor, saliency: torch.Tensor,
                       fractions) -> torch.Tensor:
    b = x.shape[0]
    removed = remove_most_relevant(x, saliency, fractions)
    p = F.softmax(forward_in_slices(model, removed), dim=1).view(len(fractions), b, -1)
    return p.gather(2, y.view(1, b, 1).expand(len(fractions), b, 1)).squeeze(2).T  # (B, F)


def label_probability_curves(model: nn.Module, data: ImageTensors, spec: DatasetSpec, *,
                             device: torch.device, fractions=FRACTIONS, batch_size: int = 250,
                             signed: bool = False) -> torch.Tensor:
    """p(label) after masking each fraction of the highest-gradient pixels: (N, len(fractions)).

    The gradient is d log p_y / dx averaged over channels; by default its magnitude ranks the
    pixels (`signed=True` ranks the signed value, highest first).
    """
    model = model.to(device).eval()
    mean, std = channel_stats(spec, device)
    out = []
    for start in range(0, len(data), batch_size):
        x = normalize(data.images[start:start + batch_size].to(device), mean, std)
        y = data.labels[start:start + batch_size].to(device)
        saliency = input_saliency(model, x, y, use_abs=not signed)
        out.append(_label_probability(model, x, y, saliency, fractions).cpu())
    return torch.cat(out)


def rises_then_falls(curves: torch.Tensor, tolerance: float = 0.01) -> torch.Tensor:
    """Class II: the peak comes after some masking, at least `tolerance` above both the start
    (it rose) and the last point (it fell again)."""
    peak, where = curves.max(dim=1)
    return (where > 0) & (peak - curves[:, 0] > tolerance) & (peak - curves[:, -1] > tolerance)


def training_config(cfg: JobConfig) -> JobConfig:
    """What the experiment trains when it is given no run: the papers' CNN, traditionally trained
    with Adadelta at lr 1 (Table 1's CNN row), whatever model the dataset's preset names."""
    return merge(cfg, {"model": {"name": "cnn", "patch_size": None, "input_size": None,
                                 "pretrained": None},
                       "method": {"name": "traditional"}, "train": {"lr": 1.0}},
                 "the motivation experiment")


def _write_curves(path: Path, curves: torch.Tensor, rising: torch.Tensor) -> None:
    with open(path, "w") as f:
        f.write("image,class_ii," + ",".join(f"p_at_{d:g}" for d in FRACTIONS) + "\n")
        for i, (row, r) in enumerate(zip(curves.tolist(), rising.tolist())):
            f.write(f"{i},{int(r)}," + ",".join(f"{v:.5f}" for v in row) + "\n")


def run_motivation(cfg: JobConfig) -> dict[str, Any]:
    """The experiment on cfg.motivation.run's model (or one trained here first): the share of
    test images whose label probability rises, then falls; writes motivation.json, curves.csv
    and motivation.png to cfg.motivation.output_dir."""
    m = cfg.motivation
    # a given folder is checked before anything is computed; the files appear there when complete
    staged = StagedFolder(Path(m.output_dir), "--output-dir") if m.output_dir else None
    with staged or contextlib.nullcontext():
        return _motivation(cfg, staged)


def _motivation(cfg: JobConfig, staged: StagedFolder | None) -> dict[str, Any]:
    m = cfg.motivation
    if m.run:
        run = load_trained(m.run, cfg.tracking.uri)
        model, data, name = run.model, run.cfg.data, run.name
        if run.cfg.method.name != "traditional":
            print(f"note: {name} was trained with {run.cfg.method.name}; the paper's experiment "
                  f"uses a traditionally trained model", flush=True)
    else:
        trainer = Trainer(training_config(cfg), progress=cfg.run.progress)
        trainer.fit()
        model, data, name = trainer.model, cfg.data, "trained here"
    splits = load_splits(replace(data, train_subset=None, test_subset=cfg.data.test_subset))
    dataset = data.dataset
    start = time.perf_counter()
    curves = label_probability_curves(model, splits.test, splits.spec,
                                      device=resolve_device(cfg.train.device), signed=m.signed)
    rising = rises_then_falls(curves, m.tolerance)
    share = float(rising.float().mean())
    if staged is None:
        staged = StagedFolder(output_dir("motivation", f"{dataset_label(dataset)}-"
                                                       f"{time.strftime('%Y%m%d-%H%M%S')}",
                                         fresh=True),
                              "the output folder")
    with staged:  # written whole, or dropped
        out = staged.staging
        result = {"model": name, "dataset": dataset, "num_images": len(curves),
                  "rise_then_fall": int(rising.sum()), "share_rise_then_fall": share,
                  "tolerance": m.tolerance, "signed": m.signed, "fractions": list(FRACTIONS),
                  "seconds": time.perf_counter() - start, "output_dir": str(staged.final)}
        write_json(out / "motivation.json", result)
        _write_curves(out / "curves.csv", curves, rising)
        plot_motivation(curves, rising, FRACTIONS, out / "motivation.png",
                        f"{splits.spec.title}: {100 * share:.1f}% of {len(curves)} test images "
                        f"rise, then fall")
        staged.publish()
    return result
