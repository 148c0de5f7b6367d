"""Per-epoch saliency objective for sweeps: the Grad accuracy-drop AUC on a fixed test sample.

Each rank scores its own share of the images; the correct counts are summed over ranks, so the
AUC is that of the whole sample, identical on every rank (as a reported metric must be).
"""

from __future__ import annotations

from typing import Callable

import torch

from ..data.loading import ImageTensors, channel_stats, normalize
from ..data.registry import DatasetSpec
from .attribution import make_attributor, quiet_captum
from .morf import FRACTIONS, auc, correct_after_removal

OBJECTIVES = {  # name -> (metric reported as "objective", mode)
    "accuracy": "test accuracy (%)",
    "auc": "Grad accuracy-drop AUC (lower is better)",
    "combined": "test accuracy (%) minus Grad AUC",
}
MODES = {"accuracy": "max", "auc": "min", "combined": "max"}


def grad_auc(model: torch.nn.Module, shard: ImageTensors, total: int, spec: DatasetSpec,
             all_reduce: Callable[[torch.Tensor], torch.Tensor], batch_size: int = 500) -> float:
    """Grad AUC over all ranks' shards (`total` images in all)."""
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


def objective_value(name: str, test_accuracy: float, auc_grad: float | None) -> float:
    if name == "accuracy":
        return 100.0 * test_accuracy
    if auc_grad is None:
        raise ValueError(f"objective {name!r} needs the Grad AUC")
    return auc_grad if name == "auc" else 100.0 * test_accuracy - auc_grad
