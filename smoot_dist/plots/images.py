"""Images with their attribution maps: a grid of test images by method, one explained image."""

from __future__ import annotations

from pathlib import Path

import torch

from .figure import pyplot, save


def plot_saliency_grid(images: torch.Tensor, maps: dict[str, torch.Tensor], path: str | Path,
                       title: str = "", row_labels: list[str] | None = None,
                       outlines: torch.Tensor | None = None) -> Path:
    """Rows: test images; columns: the input, then one saliency map per label (Figure 2 style).

    `images` uint8 (N, C, H, W); `maps[label]` (N, H, W), each row scaled to its own maximum (the
    colour bar: saliency relative to that maximum); `row_labels`: each image's class;
    `outlines` (N, H*W) bool: a region (a decoy patch) outlined by its bounding box on every
    panel of its row.
    """
    plt = pyplot()

    n, cols = images.shape[0], 1 + len(maps)
    fig, axes = plt.subplots(n, cols, figsize=(1.6 * cols + 0.6, 1.6 * n + 0.4), dpi=120,
                             squeeze=False)
    shown = None
    for i in range(n):
        img = images[i].permute(1, 2, 0).numpy()
        axes[i][0].imshow(img[..., 0] if img.shape[2] == 1 else img, cmap="gray")
        if row_labels:
            axes[i][0].set_ylabel(row_labels[i], fontsize=8)
        for j, (label, m) in enumerate(maps.items(), start=1):
            row = m[i].float()
            shown = axes[i][j].imshow((row / row.max().clamp_min(1e-12)).numpy(), cmap="hot",
                                      vmin=0, vmax=1)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
            if outlines is not None:
                _outline(ax, outlines[i].view(images.shape[2], images.shape[3]))
    for j, label in enumerate(["input", *maps], start=0):
        axes[0][j].set_title(label, fontsize=9)
    if shown is not None:
        bar = fig.colorbar(shown, ax=axes[:, 1:].ravel().tolist(), fraction=0.03, pad=0.02)
        bar.set_label("saliency / the map's maximum", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save(fig, path, tight=shown is None)


def _outline(ax, region: torch.Tensor) -> None:
    """The bounding box of a (H, W) bool region, drawn on the pixel edges (a contour would leave
    a corner patch open along the image's border)."""
    from matplotlib.patches import Rectangle

    rows, cols = region.any(dim=1).nonzero().flatten(), region.any(dim=0).nonzero().flatten()
    if len(rows):
        top, left = rows.min().item() - 0.5, cols.min().item() - 0.5
        ax.add_patch(Rectangle((left, top), cols.max().item() + 0.5 - left,
                               rows.max().item() + 0.5 - top, fill=False, edgecolor="cyan",
                               linewidth=1.0))


def plot_explanation(image: torch.Tensor, maps: dict[str, torch.Tensor], path: str | Path,
                     title: str = "") -> Path:
    """One image explained: the input, then per method the saliency over the image (overlay)
    and the map itself with its colour bar. `image` uint8 (C, H, W); `maps[label]` (H, W)."""
    plt = pyplot()

    cols = 1 + 2 * len(maps)
    fig, axes = plt.subplots(1, cols, figsize=(2.3 * cols, 2.8), dpi=120, squeeze=False)
    img = image.permute(1, 2, 0).numpy()
    grey = img[..., 0] if img.shape[2] == 1 else img.mean(axis=2)
    axes[0][0].imshow(img[..., 0] if img.shape[2] == 1 else img, cmap="gray")
    axes[0][0].set_title("input", fontsize=9)
    for j, (label, m) in enumerate(maps.items()):
        relative = (m.float() / m.float().max().clamp_min(1e-12)).numpy()
        over, raw = axes[0][1 + 2 * j], axes[0][2 + 2 * j]
        over.imshow(grey, cmap="gray")
        over.imshow(relative, cmap="hot", alpha=0.55, vmin=0, vmax=1)
        over.set_title(f"{label} over the image", fontsize=9)
        shown = raw.imshow(m.float().numpy(), cmap="hot")
        raw.set_title(f"{label}", fontsize=9)
        fig.colorbar(shown, ax=raw, fraction=0.046, pad=0.04).ax.tick_params(labelsize=7)
    for ax in axes[0]:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    return save(fig, path)
