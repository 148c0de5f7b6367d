"""Figures people would rather look at than read."""

from __future__ import annotations

from pathlib import Path

import torch

from .method.masking import mask_counts


def plot_k_histogram(k: torch.Tensor, num_pixels: int, k_min: float, k_max: float, path: str | Path,
                     title: str = "") -> Path:
    """Histogram of the masked-pixel counts round(k_i * P) over all training samples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = mask_counts(k, num_pixels).numpy()
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    lo, hi = round(k_min * num_pixels), round(k_max * num_pixels)
    bins = max(10, min(100, int(counts.max() - counts.min()) + 1))
    ax.hist(counts, bins=bins, color="#3b75af")
    for x, label in ((lo, "k_min"), (hi, "k_max")):
        ax.axvline(x, color="#c44e52", linestyle="--", linewidth=1)
        ax.text(x, ax.get_ylim()[1] * 0.95, f" {label}", color="#c44e52", fontsize=8, va="top")
    ax.set_xlabel(f"masked pixels K (of P = {num_pixels})")
    ax.set_ylabel("training samples")
    ax.set_title(title or "K over the training set", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
