"""The paper's motivation experiment (section 2.3, Figure 1).

Mask an increasing fraction of each test image's HIGHEST-gradient pixels (background fill) and
follow the probability of its label. Most curves fall from the start ("class I"); some first rise
and then fall ("class II": the model was also looking at pixels that hurt it), which is why the
best masking fraction is image dependent. The paper found 16% of CIFAR-10 test images in class II.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data.loading import ImageTensors, channel_stats, normalize
from ..data.registry import DatasetSpec
from ..method.saliency import input_saliency
from .morf import removal_masks

FRACTIONS = tuple(round(0.05 * i, 2) for i in range(20))  # 0, 5%, ..., 95%


@torch.no_grad()
def _label_probability(model: nn.Module, x: torch.Tensor, y: torch.Tensor, saliency: torch.Tensor,
                       fractions) -> torch.Tensor:
    b, c, h, w = x.shape
    masks = removal_masks(saliency, fractions).view(len(fractions), b, 1, h, w)
    fill = x.flatten(1).amin(1).view(1, b, 1, 1, 1)
    masked = torch.where(masks, fill, x.unsqueeze(0)).view(-1, c, h, w)
    p = F.softmax(model(masked), dim=1).view(len(fractions), b, -1)
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
