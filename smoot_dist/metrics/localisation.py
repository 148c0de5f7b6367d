"""Does the attribution lie on the object? The paper's claim (section 4.2) is that
saliency-guided training moves the gradient off the background; these measure it per image from
the finished |attribution| map (B, P) and a boolean object mask (B, P).

- object_masks: for MNIST and Fashion-MNIST (objects on an even background) a pixel is object
  where its value (the mean over channels) is above the image's own background value, its
  minimum. A user's image folder gives masks of its own (any non-zero pixel is object).
- relevance mass (Arras et al. 2022): the share of the attribution's total inside the mask.
- relevance rank (Arras et al. 2022): of the |mask| most attributed pixels, the share inside it.
- pointing game (Zhang et al. 2018): 1 where the most attributed pixel is inside the mask.
- object share: |mask| / P, what a random attribution scores on mass and rank in expectation.
Higher is better for the first three.
"""

from __future__ import annotations

import torch

from .registry import Batch, Column, Metric, MethodBatch, register_metric


def object_masks(images: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) images in any units -> (B, H*W) bool: brighter than the image's minimum."""
    values = images.float().mean(dim=1).flatten(1)
    return values > values.amin(dim=1, keepdim=True)


def relevance_mass(a: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    values = a.abs().double()
    total = values.sum(dim=1)
    inside = (values * mask).sum(dim=1)
    return torch.where(total > 0, inside / total.clamp_min(1e-300), torch.zeros_like(total)).float()


def relevance_rank(a: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Ties at the |mask|-th value are broken by position (a stable sort), as a ranking must."""
    size = mask.sum(dim=1)
    order = a.abs().argsort(dim=1, descending=True, stable=True)
    ranked_inside = mask.gather(1, order)  # row r: is the r-th most attributed pixel object?
    top = torch.arange(a.shape[1], device=a.device).unsqueeze(0) < size.unsqueeze(1)
    hits = (ranked_inside & top).sum(dim=1)
    return torch.where(size > 0, hits / size.clamp_min(1), torch.zeros_like(hits, dtype=torch.float)).float()


def pointing_game(a: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    top = a.abs().argmax(dim=1, keepdim=True)
    return mask.gather(1, top).squeeze(1).float()


def object_share(mask: torch.Tensor) -> torch.Tensor:
    return mask.float().mean(dim=1)


_LOCALISATION = {"relevance_mass": relevance_mass, "relevance_rank": relevance_rank,
                 "pointing_game": pointing_game}


def _on_the_object(mb: MethodBatch) -> dict[str, torch.Tensor]:
    return {key: measure(mb.a, mb.batch.mask) for key, measure in _LOCALISATION.items()}


def _object_share(b: Batch) -> dict[str, torch.Tensor]:
    return {"object_share": object_share(b.mask)}


register_metric(Metric(
    "localisation", "localisation", "on the object",
    (Column("object_share", per_method=False),
     Column("relevance_mass", "Rel. mass", True), Column("relevance_rank", "Rel. rank", True),
     Column("pointing_game", "Pointing", True)),
    per_batch=_object_share, per_method=_on_the_object))
