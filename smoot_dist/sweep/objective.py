"""The sweep's per-epoch objective, given to training as an epoch hook (so the Ray Train adapter
knows nothing of Tune): test accuracy, or the Grad accuracy-drop AUC on a fixed, class-balanced
sample of the test set, or accuracy minus that AUC. Each rank scores its own share of the sample
and the correct counts are summed over ranks, so every rank reports the same value."""

from __future__ import annotations

from typing import Any

from ..config import OBJECTIVES

MODES = {name: mode for name, (_what, mode) in OBJECTIVES.items()}


def objective_value(name: str, test_accuracy: float, auc_grad: float | None) -> float:
    if name == "accuracy":
        return 100.0 * test_accuracy
    if auc_grad is None:
        raise ValueError(f"objective {name!r} needs the Grad AUC")
    return auc_grad if name == "auc" else 100.0 * test_accuracy - auc_grad


class ObjectiveHook:
    """Adds `objective` (and `auc_grad` where the objective needs it) to each epoch's metrics."""

    def __init__(self, objective: str, images: int):
        self.objective, self.images = objective, images
        self._shard = None  # this rank's share of the sample, chosen on first use

    def __call__(self, trainer, metrics: dict[str, Any]) -> None:
        auc = None
        if self.objective != "accuracy" and "auc_grad" in metrics:
            auc = metrics["auc_grad"]  # the run's closing evaluation (last epoch), more images
        elif self.objective != "accuracy":
            from ..data.subset import balanced_subset
            from ..evaluation.drop import sharded_auc

            test = trainer.splits.test
            n = min(self.images, len(test))
            if self._shard is None:
                sample = balanced_subset(test.labels, n, trainer.spec.num_classes, "test")
                self._shard = test.select(sample[trainer.rank::trainer.world_size])
            auc = sharded_auc(trainer.model, self._shard, n, trainer.spec, trainer.all_reduce, "grad")
            metrics["auc_grad"] = auc
        metrics["objective"] = objective_value(self.objective, metrics["test_accuracy"], auc)
