"""Accuracy-drop curves: remove pixels in attribution order, measure accuracy, take the AUC.

For d in {0, 0.1, ..., 0.9} the round(d * P) pixels with the HIGHEST attribution of each test
image (MoRF, most relevant first; LeRF: the LOWEST, least relevant first) are removed and the
test accuracy in percent is measured. Removed pixels get the image's background value (its
minimum, the papers' tables), its mean, or ROAD's noisy linear imputation from the kept
neighbours (metrics/faithfulness/road.py). AUC = trapezoid of accuracy (%) over d: a flat 100% curve
scores 90. MoRF: lower is better; LeRF: higher is better; SRG = AUC(LeRF) - AUC(MoRF) (Bluecher
et al., TMLR 2024), higher is better and far less sensitive to the fill.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...method.masking import mask_counts
from ...models.inference import forward_in_slices
from .road import road_impute

FRACTIONS = tuple(round(0.1 * i, 1) for i in range(10))


REMOVAL_FILLS = ("background", "mean", "road")


def removal_masks(attribution: torch.Tensor, fractions=FRACTIONS, order: str = "morf") -> torch.Tensor:
    """Boolean (len(fractions), B, P): for each d, the round(d*P) highest-attribution pixels
    (MoRF) or lowest (LeRF).

    Ranked by a stable sort, so ties go to the lower pixel index and every image loses exactly
    round(d*P) pixels.
    """
    b, p = attribution.shape
    order = torch.argsort(attribution, dim=1, descending=order == "morf", stable=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(p, device=order.device).expand(b, p))
    counts = mask_counts(torch.tensor(fractions, dtype=torch.float64), p).to(attribution.device)
    return rank[None, :, :] < counts[:, None, None]


def remove_pixels(x: torch.Tensor, attribution: torch.Tensor, fractions=FRACTIONS,
                  order: str = "morf", fill: str = "background", seed: int = 0) -> torch.Tensor:
    """(len(fractions) * B, C, H, W): for each fraction d (outer) and image (inner), the image
    with its round(d*P) pixels removed in `order`, filled by `fill`."""
    b, c, h, w = x.shape
    masks = removal_masks(attribution, fractions, order)
    if fill == "road":
        repeated = x.unsqueeze(0).expand(len(fractions), b, c, h, w).reshape(-1, c, h, w)
        return road_impute(repeated, masks.reshape(-1, h * w), seed=seed)
    masks = masks.view(len(fractions), b, 1, h, w)
    flat = x.flatten(1)
    value = flat.amin(1) if fill == "background" else flat.mean(1)
    return torch.where(masks, value.view(1, b, 1, 1, 1), x.unsqueeze(0)).view(-1, c, h, w)


def remove_most_relevant(x: torch.Tensor, attribution: torch.Tensor, fractions=FRACTIONS
                         ) -> torch.Tensor:
    """MoRF with the background fill: the papers' protocol."""
    return remove_pixels(x, attribution, fractions)


@torch.no_grad()
def correct_after_removal(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                          attribution: torch.Tensor, fractions=FRACTIONS, order: str = "morf",
                          fill: str = "background", seed: int = 0) -> torch.Tensor:
    """Number of correct predictions for each removed fraction (len(fractions),), one forward."""
    removed = remove_pixels(x, attribution, fractions, order, fill, seed)
    pred = forward_in_slices(model, removed).argmax(1)
    return (pred.view(len(fractions), x.shape[0]) == y[None, :]).sum(1)


def srg(lerf_auc: float, morf_auc: float) -> float:
    """Symmetric relevance gain: AUC(LeRF) - AUC(MoRF)."""
    return lerf_auc - morf_auc


def auc(accuracy_percent, fractions=FRACTIONS) -> float:
    """Trapezoid of accuracy (%) over the removed fraction."""
    return float(np.trapezoid(np.asarray(accuracy_percent, dtype=np.float64),
                              np.asarray(fractions, dtype=np.float64)))
