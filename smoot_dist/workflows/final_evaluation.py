"""The saliency evaluation every run ends with: Grad and Random MoRF AUC (background fill, the
papers' protocol) on `--eval-images` class-balanced test images, as an epoch hook on the last
epoch, so it runs where training ran (each Ray worker scores its share of the images; the
correct counts are summed) and lands in the last epoch's metrics, hence in MLflow, the summary
and the final row. `jobs/evaluate.py` does the fuller evaluation (every method, LeRF, ROAD)."""

from __future__ import annotations

from typing import Any

import torch

from ..data.sharding import mix_seed
from ..data.subset import balanced_subset
from ..foundations.errors import ConfigError
from ..metrics.faithfulness.drop import sharded_auc
from ..evaluation.protocol import CLOSING_METHODS


def _sample(labels, n: int, num_classes: int):
    """n test images: all of them, else class-balanced (else, where a class is too small for
    that, a seeded random choice)."""
    if n >= labels.numel():
        return torch.arange(labels.numel())
    try:
        return balanced_subset(labels, n, num_classes, "test")
    except ConfigError:
        gen = torch.Generator().manual_seed(0)
        return torch.randperm(labels.numel(), generator=gen)[:n].sort().values


class FinalEvaluation:
    def __init__(self, images: int, seed: int = 0):
        self.images, self.seed = images, seed

    def __call__(self, trainer, metrics: dict[str, Any]) -> None:
        if not self.images or trainer.epoch < trainer.cfg.train.epochs:
            return
        test = trainer.splits.test
        n = min(self.images, len(test))
        sample = _sample(test.labels, n, trainer.spec.num_classes)
        shard = test.select(sample[trainer.rank::trainer.world_size])
        for i, method in enumerate(CLOSING_METHODS):
            metrics[f"auc_{method}"] = sharded_auc(
                trainer.model, shard, n, trainer.spec, trainer.all_reduce, method,
                batch_size=trainer.cfg.train.eval_batch_size,
                seed=mix_seed(self.seed, i, trainer.rank))
        metrics["auc_images"] = n
