"""Where SMOOT's per-sample mask sizes K ended up: a run's histogram, methods side by side,
and K's quartiles epoch by epoch."""

from __future__ import annotations

from pathlib import Path

import torch

from ..method.masking import mask_counts
from .figure import integer_bins, pyplot, save


def plot_k_histogram(k: torch.Tensor, num_pixels: int, k_min: float, k_max: float, path: str | Path,
                     title: str = "") -> Path:
    """Histogram of the masked-pixel counts round(k_i * P) over all training samples."""
    plt = pyplot()

    counts = mask_counts(k, num_pixels).numpy()
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    lo, hi = round(k_min * num_pixels), round(k_max * num_pixels)
    ax.hist(counts, bins=integer_bins(int(counts.min()), int(counts.max())), color="#3b75af")
    for x, label in ((lo, "k_min"), (hi, "k_max")):
        ax.axvline(x, color="#c44e52", linestyle="--", linewidth=1)
        ax.text(x, ax.get_ylim()[1] * 0.95, f" {label}", color="#c44e52", fontsize=8, va="top")
    ax.set_xlabel(f"masked pixels K (of P = {num_pixels})")
    ax.set_ylabel("training samples")
    ax.set_title(title or "K over the training set", fontsize=10)
    return save(fig, path)


def plot_k_histograms(counts: dict[str, torch.Tensor], num_pixels: int, k_min: float,
                      k_max: float, path: str | Path, title: str = "", density: bool = False) -> Path:
    """The final K (masked-pixel counts) over the training set, one outline per label (a seed);
    `density`: each outline's share of its own samples (groups of different sizes)."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    lo, hi = round(k_min * num_pixels), round(k_max * num_pixels)
    edges = integer_bins(lo, hi, 60)
    for label, c in counts.items():
        ax.hist(c.numpy(), bins=edges, histtype="step", linewidth=1.2, label=label, density=density)
    for x in (lo, hi):
        ax.axvline(x, color="#c44e52", linestyle="--", linewidth=1)
    ax.set_xlabel(f"masked pixels K (of P = {num_pixels}); dashed: the bounds k_min, k_max")
    ax.set_ylabel("share of the samples per pixel" if density else "training samples")
    ax.legend(fontsize=8)
    ax.set_title(title or "K over the training set", fontsize=10)
    return save(fig, path)


def plot_k_trajectory(epochs: list[int], stats: dict[str, tuple[list[float], list[float]]],
                      bounds: tuple[int, int], path: str | Path, title: str = "") -> Path:
    """Left: K min / median / max (pixels) per epoch; right: the share of samples at each bound.
    `stats[name]` = (mean per epoch, std per epoch) over seeds, names k_min, k_median, k_max,
    k_share_at_min, k_share_at_max (shares as fractions)."""
    plt = pyplot()

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=120)

    def band(ax, name: str, label: str, scale: float = 1.0):
        mean, std = stats[name]
        m = [scale * v for v in mean]
        line, = ax.plot(epochs, m, marker="o", markersize=3, label=label)
        ax.fill_between(epochs, [a - scale * s for a, s in zip(m, std)],
                        [a + scale * s for a, s in zip(m, std)], color=line.get_color(), alpha=0.15)

    for name, label in (("k_max", "Max(K)"), ("k_median", "Median(K)"), ("k_min", "Min(K)")):
        band(left, name, label)
    for x in bounds:
        left.axhline(x, color="#c44e52", linestyle="--", linewidth=1)
    left.set_xlabel("epoch")
    left.set_ylabel("masked pixels K")
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    left.set_title("K per sample: min / median / max (dashed: bounds)", fontsize=9)
    band(right, "k_share_at_max", "at k_max", 100.0)
    band(right, "k_share_at_min", "at k_min", 100.0)
    right.set_xlabel("epoch")
    right.set_ylabel("training samples (%)")
    right.set_ylim(bottom=0)
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    right.set_title("samples at a bound", fontsize=9)
    from matplotlib.ticker import MaxNLocator

    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title, fontsize=10)
    return save(fig, path)
