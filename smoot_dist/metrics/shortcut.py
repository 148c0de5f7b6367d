"""Does the model, and does its attribution, ignore a shortcut? Measured on a decoy dataset
(data/decoy.py), whose test images come in three views and carry the decoy patch's region:

- shortcut: the model's accuracy on each view (decoy: the patch encodes a random class, the
  benchmark; shortcut: it encodes the label, as in training; clean: no patch) and the shortcut
  gap, shortcut minus decoy accuracy: how much of the accuracy the patch carries (lower is
  better; 0 for a model that ignores it).
- decoy_share: the share of |attribution| on the patch (relevance mass on the irrelevant
  region, lower is better); `decoy_area` is the patch's share of the image, what a random
  attribution scores in expectation. Relevance mass on the object is the localisation metric's
  (a decoy dataset's object: the clean image's pixels above its background, off the patch).
"""

from __future__ import annotations

import torch

from ..data.decoy import Decoy
from ..data.loading import normalize
from ..foundations.errors import ConfigError
from ..models.inference import forward_in_slices
from .localisation import relevance_mass
from .registry import Batch, Column, Metric, MethodBatch, register_metric


def _decoy(b: Batch) -> Decoy:
    if b.decoy is None:  # evaluate_run refuses it first; a caller of the battery of its own
        raise ConfigError(f"the shortcut metrics measure a decoy dataset (decoy_mnist, "
                          f"decoy:DATASET), not {b.spec.name}")
    return b.decoy


def _correct(b: Batch, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        logits = forward_in_slices(b.classifier, normalize(images, b.mean, b.std))
    return (logits.argmax(dim=1) == b.y).float()


def view_accuracy(b: Batch) -> dict[str, torch.Tensor]:
    """Per image, 1 where the model is right on each view; the gap per image in {-1, 0, 1}."""
    views = _decoy(b).views
    with torch.no_grad():
        # b.x: the decoy view, normalised already (the views are pixels, hence _correct)
        decoy = (forward_in_slices(b.classifier, b.x).argmax(dim=1) == b.y).float()
    shortcut, clean = _correct(b, views["shortcut"]), _correct(b, views["clean"])
    return {"decoy_accuracy": decoy, "shortcut_accuracy": shortcut, "clean_accuracy": clean,
            "shortcut_gap": shortcut - decoy}


def _decoy_area(b: Batch) -> dict[str, torch.Tensor]:
    return {"decoy_area": _decoy(b).region.float().mean(dim=1)}


def _decoy_share(mb: MethodBatch) -> dict[str, torch.Tensor]:
    return {"decoy_share": relevance_mass(mb.a, _decoy(mb.batch).region)}


register_metric(Metric(
    "shortcut", "shortcut", "accuracy on the decoy, shortcut and clean test views, and the gap",
    (Column("decoy_accuracy", "Decoy acc.", True, per_method=False, percent=True),
     Column("shortcut_accuracy", "Shortcut acc.", per_method=False, percent=True),
     Column("clean_accuracy", "Clean acc.", True, per_method=False, percent=True),
     Column("shortcut_gap", "Shortcut gap", False, per_method=False, percent=True)),
    per_batch=view_accuracy, needs_decoy=True))
register_metric(Metric(
    "decoy_share", "shortcut", "share of the attribution on the decoy patch",
    (Column("decoy_area", per_method=False, percent=True),
     Column("decoy_share", "Decoy share", False, percent=True)),
    per_batch=_decoy_area, per_method=_decoy_share, needs_decoy=True))
