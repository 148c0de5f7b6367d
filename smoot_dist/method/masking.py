"""Per-sample masking of the least salient pixels, vectorised over the batch."""

from __future__ import annotations

import functools

import torch


def mask_counts(k: torch.Tensor, num_pixels: int) -> torch.Tensor:
    """c_i = round(k_i * P): the number of masked pixels (also what K statistics report).

    In float64, so that every caller (masking, statistics, tests) rounds identically.
    """
    return torch.round(k.double() * num_pixels).long()


@functools.lru_cache(maxsize=8)
def _ranks(num_pixels: int, device: torch.device) -> torch.Tensor:
    """0..P-1 as a (1, P) row, made once per size and device rather than every step."""
    return torch.arange(num_pixels, device=device)[None, :]


def lowest_saliency_mask(saliency: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Boolean (B, P): True at the counts[i] pixels of row i with the lowest saliency.

    Exact counts even with ties: pixels are ranked by a stable sort, so among equal values the
    lower pixel index goes first.
    """
    order = torch.argsort(saliency, dim=1, stable=True)
    in_sorted_order = _ranks(saliency.shape[1], saliency.device) < counts.to(saliency.device)[:, None]
    return torch.empty_like(in_sorted_order).scatter_(1, order, in_sorted_order)


def random_mask(counts: torch.Tensor, num_pixels: int) -> torch.Tensor:
    """Boolean (B, P): True at counts[i] pixels of row i drawn uniformly at random (without
    replacement), from the global torch generator, which the Trainer seeds per epoch and rank."""
    scores = torch.rand(counts.numel(), num_pixels, device=counts.device)
    return lowest_saliency_mask(scores, counts)


def fill_values(x: torch.Tensor, fill: str) -> torch.Tensor:
    """What replaces masked pixels, broadcastable to x (B, C, H, W).

    random: uniform in [min(x_i), max(x_i)] of each sample; background: min(x_i); mean: mean(x_i).
    """
    flat = x.flatten(1)
    lo = flat.amin(dim=1).view(-1, 1, 1, 1)
    if fill == "background":
        return lo
    if fill == "mean":
        return flat.mean(dim=1).view(-1, 1, 1, 1)
    if fill == "random":
        hi = flat.amax(dim=1).view(-1, 1, 1, 1)
        return lo + (hi - lo) * torch.rand_like(x)
    raise ValueError(f"unknown fill {fill!r}")


def apply_mask(x: torch.Tensor, mask: torch.Tensor, fill: str) -> torch.Tensor:
    """x with the pixels where mask (B, H*W) is True replaced in every channel."""
    b, _, h, w = x.shape
    return torch.where(mask.view(b, 1, h, w), fill_values(x, fill), x)
