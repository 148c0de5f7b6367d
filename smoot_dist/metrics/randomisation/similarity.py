"""How alike two attribution maps are, per image, batched: what the sanity checks compare.

- spearman: Spearman's rank correlation of two rows (B, P), ties given their average rank (as
  scipy.stats.spearmanr does).
- ssim: the structural similarity of two maps (B, H, W) as scikit-image computes it (and
  Quantus calls it): a 7 x 7 uniform window, sample covariances, K1 = 0.01, K2 = 0.03, the data
  range of the pair taken together, the mean over the window positions inside the image (a
  map smaller than 7 pixels a side gets the largest odd window that fits, as scikit-image asks).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SSIM_WINDOW = 7
SSIM_K1, SSIM_K2 = 0.01, 0.03


def average_ranks(a: torch.Tensor) -> torch.Tensor:
    """1-based ranks along each row, tied values sharing the mean of their positions."""
    values = a.double()
    ordered = values.sort(dim=1).values
    below = torch.searchsorted(ordered, values, right=False)
    up_to = torch.searchsorted(ordered, values, right=True)
    return (below + up_to + 1).double() / 2


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B, P), (B, P) -> (B,); 0 where a row is constant (no ranking to correlate)."""
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(dim=1, keepdim=True), rb - rb.mean(dim=1, keepdim=True)
    scale = (ra.square().sum(dim=1) * rb.square().sum(dim=1)).sqrt()
    return torch.where(scale > 0, (ra * rb).sum(dim=1) / scale.clamp_min(1e-300),
                       torch.zeros_like(scale)).float()


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B, H, W), (B, H, W) -> (B,). Two identical maps score 1 (a constant pair too)."""
    x, y = a.double().unsqueeze(1), b.double().unsqueeze(1)
    both = torch.cat([x.flatten(1), y.flatten(1)], dim=1)
    data_range = both.amax(dim=1) - both.amin(dim=1)
    c1 = (SSIM_K1 * data_range).square().view(-1, 1, 1, 1)
    c2 = (SSIM_K2 * data_range).square().view(-1, 1, 1, 1)

    side = min(SSIM_WINDOW, *x.shape[2:])
    side -= 1 - side % 2  # odd

    def mean(t):  # the window positions wholly inside the image: scikit-image's cropped mean
        return F.avg_pool2d(t, side, stride=1)

    n = side * side
    unbiased = n / (n - 1)
    mx, my = mean(x), mean(y)
    vx = unbiased * (mean(x * x) - mx * mx)
    vy = unbiased * (mean(y * y) - my * my)
    vxy = unbiased * (mean(x * y) - mx * my)
    numerator = (2 * mx * my + c1) * (2 * vxy + c2)
    denominator = (mx * mx + my * my + c1) * (vx + vy + c2)
    same = denominator == 0  # both maps constant and equal over the window: identical
    value = torch.where(same, torch.ones_like(numerator), numerator / torch.where(
        same, torch.ones_like(denominator), denominator))
    return value.flatten(1).mean(dim=1).float()
