"""Exact K statistics (the paper's Min(K) | Median(K) | Max(K)) at O(P) communication.

K is reported as pixel counts c_i = round(k_i * P), integers in [0, P]. A histogram of those
counts, summed over ranks, gives the exact min / median / max whatever N is; three more
numbers give the mean fraction and the shares at the bounds. One all-reduce of P + 4 values.
"""

from __future__ import annotations

import torch

from .masking import mask_counts


def k_stats_payload(k: torch.Tensor, num_pixels: int, k_min: float, k_max: float) -> torch.Tensor:
    """This rank's summable statistics: [histogram of counts (P+1), sum k, #at k_min, #at k_max]."""
    hist = torch.bincount(mask_counts(k, num_pixels), minlength=num_pixels + 1).double()
    lo = torch.tensor(k_min, dtype=k.dtype, device=k.device)  # the value clamp() writes
    hi = torch.tensor(k_max, dtype=k.dtype, device=k.device)
    extra = torch.stack([k.double().sum(), (k <= lo).sum().double(), (k >= hi).sum().double()])
    return torch.cat([hist, extra])


def summarize_k_stats(payload: torch.Tensor, num_pixels: int) -> dict[str, float]:
    """min / median / max (pixel counts), mean fraction, share at each bound, from a (summed) payload."""
    payload = payload.double().cpu()
    hist, (sum_k, at_min, at_max) = payload[: num_pixels + 1], payload[num_pixels + 1:].tolist()
    n = int(hist.sum().item())
    if n == 0:
        raise ValueError("no samples in the K histogram")
    present = torch.nonzero(hist).flatten()
    cum = hist.cumsum(0)
    # Order statistics at 0-based positions (n-1)//2 and n//2; their mean is numpy's median.
    lower = int(torch.searchsorted(cum, torch.tensor(float((n - 1) // 2 + 1), dtype=torch.float64)))
    upper = int(torch.searchsorted(cum, torch.tensor(float(n // 2 + 1), dtype=torch.float64)))
    return {
        "min": int(present[0]),
        "median": (lower + upper) / 2,
        "max": int(present[-1]),
        "mean_fraction": sum_k / n,
        "share_at_min": at_min / n,
        "share_at_max": at_max / n,
        "n": n,
    }


def k_statistics(k: torch.Tensor, num_pixels: int, k_min: float, k_max: float) -> dict[str, float]:
    """The K statistics of every sample's k held in one process (a training loop of your own):
    min / median / max masked-pixel counts, the mean fraction, the shares at k_min and k_max.
    Several processes each holding a share all-reduce (sum) their k_stats_payload instead, and
    pass the sum to summarize_k_stats."""
    return summarize_k_stats(k_stats_payload(k, num_pixels, k_min, k_max), num_pixels)
