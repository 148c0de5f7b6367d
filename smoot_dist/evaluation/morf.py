"""Accuracy-drop (MoRF) curves: remove the most salient pixels, measure accuracy, take the AUC.

For d in {0, 0.1, ..., 0.9} the round(d * P) pixels with the HIGHEST |attribution| of each test
image are set to the image's background value (its minimum), and the test accuracy in percent
is measured. AUC = trapezoid of accuracy (%) over d: a flat 100% curve scores 90; lower is better
(a steeper drop means the attribution found the pixels the model really uses).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..method.masking import mask_counts

FRACTIONS = tuple(round(0.1 * i, 1) for i in range(10))


def removal_masks(attribution: torch.Tensor, fractions=FRACTIONS) -> torch.Tensor:
    """Boolean (len(fractions), B, P): for each d, the round(d*P) highest-attribution pixels.

    Ranked by a stable descending sort, so ties go to the lower pixel index and every image
    loses exactly round(d*P) pixels.
    """
    b, p = attribution.shape
    order = torch.argsort(attribution, dim=1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(p, device=order.device).expand(b, p))
    counts = mask_counts(torch.tensor(fractions, dtype=torch.float64), p).to(attribution.device)
    return rank[None, :, :] < counts[:, None, None]


def remove_most_relevant(x: torch.Tensor, attribution: torch.Tensor, fractions=FRACTIONS
                         ) -> torch.Tensor:
    """(len(fractions) * B, C, H, W): for each fraction d (outer) and image (inner), the image
    with its round(d*P) highest-attribution pixels set to its background value (its minimum)."""
    b, c, h, w = x.shape
    masks = removal_masks(attribution, fractions).view(len(fractions), b, 1, h, w)
    fill = x.flatten(1).amin(1).view(1, b, 1, 1, 1)
    return torch.where(masks, fill, x.unsqueeze(0)).view(-1, c, h, w)


@torch.no_grad()
def correct_after_removal(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                          attribution: torch.Tensor, fractions=FRACTIONS) -> torch.Tensor:
    """Number of correct predictions for each removed fraction (len(fractions),), one forward."""
    pred = model(remove_most_relevant(x, attribution, fractions)).argmax(1)
    return (pred.view(len(fractions), x.shape[0]) == y[None, :]).sum(1)


def auc(accuracy_percent, fractions=FRACTIONS) -> float:
    """Trapezoid of accuracy (%) over the removed fraction."""
    return float(np.trapezoid(np.asarray(accuracy_percent, dtype=np.float64),
                              np.asarray(fractions, dtype=np.float64)))
