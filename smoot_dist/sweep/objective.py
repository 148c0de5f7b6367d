"""The sweep's per-epoch objective, given to training as an epoch hook (so the Ray Train adapter
knows nothing of Tune): validation accuracy, or the Grad accuracy-drop AUC on a fixed,
class-balanced sample of the validation split, or accuracy minus that AUC.

Only the validation split (held out of the training data, `--val-images`) is read: a setting
chosen on test images and then reported on them would overstate itself. A run without one fails
here, loudly, rather than fall back to test metrics. Each rank scores its own share of the
sample and the correct counts are summed over ranks, so every rank reports the same value."""

from __future__ import annotations

from typing import Any

from ..config import OBJECTIVES
from ..data.subset import balanced_subset
from ..foundations.errors import UserError
from ..metrics.faithfulness.drop import sharded_auc

MODES = {name: mode for name, (_what, mode) in OBJECTIVES.items()}


class NoValidationSplit(UserError):
    """A sweep objective was asked of a run that holds out no validation images."""


def objective_value(name: str, val_accuracy: float, val_auc_grad: float | None) -> float:
    if name == "accuracy":
        return 100.0 * val_accuracy
    if val_auc_grad is None:
        raise ValueError(f"objective {name!r} needs the Grad AUC on the validation split")
    return val_auc_grad if name == "auc" else 100.0 * val_accuracy - val_auc_grad


class ObjectiveHook:
    """Adds `objective` (and `val_auc_grad` where the objective needs it) to each epoch's
    metrics, from the validation split only."""

    def __init__(self, objective: str, images: int):
        self.objective, self.images = objective, images
        self._shard = None  # this rank's share of the sample, chosen on first use

    def __call__(self, trainer, metrics: dict[str, Any]) -> None:
        val = trainer.splits.val
        if val is None or "val_accuracy" not in metrics:
            raise NoValidationSplit(
                f"the sweep objective {self.objective!r} reads the validation split and this "
                f"run has none (only test metrics); pass --val-images N")
        auc = None
        if self.objective != "accuracy":
            n = min(self.images, len(val))
            if self._shard is None:
                sample = balanced_subset(val.labels, n, trainer.spec.num_classes, "validation",
                                         flag="--objective-images")
                self._shard = val.select(sample[trainer.rank::trainer.world_size])
            auc = sharded_auc(trainer.model, self._shard, n, trainer.spec, trainer.all_reduce, "grad")
            metrics["val_auc_grad"] = auc
        metrics["objective"] = objective_value(self.objective, metrics["val_accuracy"], auc)
