"""Figures people would rather look at than read."""

from __future__ import annotations

import contextlib
import contextvars
import math
import warnings
from pathlib import Path
from typing import Iterator

import torch

from .method.masking import mask_counts

# Inside `svg_copies()`, every figure is also written as SVG beside its PNG (the results page:
# vector figures for a paper or slides; runs' own figures stay PNG only).
_SVG = contextvars.ContextVar("svg_copies", default=False)
# A control drawn as such: grey and dashed, behind the methods it is a baseline for.
CONTROLS = {"Random": {"color": "0.55", "linestyle": "--", "zorder": 1}}
# Distinct markers and dashes, so that methods whose curves overlap stay visible.
STYLES = [("o", "-"), ("s", "--"), ("^", "-."), ("D", ":"), ("v", "-"), ("P", "--"), ("X", "-.")]


@contextlib.contextmanager
def svg_copies() -> Iterator[None]:
    token = _SVG.set(True)
    try:
        yield
    finally:
        _SVG.reset(token)


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display on servers and workers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path, tight: bool = True) -> Path:
    """`tight`: tight_layout first (it cannot place a colour bar shared by many axes)."""
    if tight:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            fig.tight_layout()
        # long labels (a row's settings) leave tight_layout no room: crop to the drawing instead
        tight = not any("Tight layout not applied" in str(w.message) for w in caught)
    path = Path(path)
    extra = {} if tight else {"bbox_inches": "tight"}
    fig.savefig(path, **extra)
    if _SVG.get():
        fig.savefig(path.with_suffix(".svg"), **extra)
    _pyplot().close(fig)
    return path


def integer_bins(lo: int, hi: int, most: int = 80) -> list[float]:
    """Histogram edges for whole pixel counts in [lo, hi]: each bin spans the same whole number
    of counts, edges half-way between counts. Bins of a fractional width take one count in some
    and two in others, which draws a comb that is not in the data."""
    width = max(1, math.ceil((hi - lo + 1) / most))
    return [lo - 0.5 + i * width for i in range(math.ceil((hi - lo + 1) / width) + 1)]


def plot_k_histogram(k: torch.Tensor, num_pixels: int, k_min: float, k_max: float, path: str | Path,
                     title: str = "") -> Path:
    """Histogram of the masked-pixel counts round(k_i * P) over all training samples."""
    plt = _pyplot()

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
    return _save(fig, path)


def plot_k_histograms(counts: dict[str, torch.Tensor], num_pixels: int, k_min: float,
                      k_max: float, path: str | Path, title: str = "") -> Path:
    """The final K (masked-pixel counts) over the training set, one outline per label (a seed)."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    lo, hi = round(k_min * num_pixels), round(k_max * num_pixels)
    edges = integer_bins(lo, hi, 60)
    for label, c in counts.items():
        ax.hist(c.numpy(), bins=edges, histtype="step", linewidth=1.2, label=label)
    for x in (lo, hi):
        ax.axvline(x, color="#c44e52", linestyle="--", linewidth=1)
    ax.set_xlabel(f"masked pixels K (of P = {num_pixels}); dashed: the bounds k_min, k_max")
    ax.set_ylabel("training samples")
    ax.legend(fontsize=8)
    ax.set_title(title or "K over the training set", fontsize=10)
    return _save(fig, path)


def plot_k_trajectory(epochs: list[int], stats: dict[str, tuple[list[float], list[float]]],
                      bounds: tuple[int, int], path: str | Path, title: str = "") -> Path:
    """Left: K min / median / max (pixels) per epoch; right: the share of samples at each bound.
    `stats[name]` = (mean per epoch, std per epoch) over seeds, names k_min, k_median, k_max,
    k_share_at_min, k_share_at_max (shares as fractions)."""
    plt = _pyplot()

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
    return _save(fig, path)


def plot_drop_curves(curves: dict[str, list[float]], fractions, path: str | Path, title: str = "",
                     spread: dict[str, list[float]] | None = None, chance: float | None = None,
                     aucs: dict[str, float] | None = None) -> Path:
    """Accuracy (%) against the removed fraction, one line per label (with an optional +- band),
    each with its own marker and dash; Random as a grey dashed control; `chance` (%) as a
    dotted line; `aucs[label]` in the legend."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for i, (label, acc) in enumerate(curves.items()):
        marker, dash = STYLES[i % len(STYLES)]
        style = {"marker": marker, "linestyle": dash, **CONTROLS.get(label, {})}
        name = f"{label} (AUC {aucs[label]:.1f})" if aucs and label in aucs else label
        line, = ax.plot(fractions, acc, markersize=4, label=name, **style)
        if spread and label in spread:
            lo = [a - s for a, s in zip(acc, spread[label])]
            hi = [a + s for a, s in zip(acc, spread[label])]
            ax.fill_between(fractions, lo, hi, color=line.get_color(), alpha=0.15)
    if chance is not None:
        ax.axhline(chance, color="0.3", linestyle=":", linewidth=1, label=f"chance ({chance:g}%)")
    ax.set_xlabel("fraction of most salient pixels removed")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "Accuracy drop (MoRF)", fontsize=10)
    return _save(fig, path)


def plot_mprt(spearman: dict[str, list[float]], ssim: dict[str, list[float]] | None,
              layers: list[str], path: str | Path, title: str = "",
              spread: dict[str, list[float]] | None = None) -> Path:
    """Model-parameter randomisation: similarity to the trained model's attribution against the
    layers randomised so far (cumulative, from the output down), one line per method; Spearman
    of |a| on the left, SSIM (where given) on the right; `spread`: a +- band on the Spearman
    lines (e.g. the std over seeds). A method that depends on the weights falls to 0."""
    plt = _pyplot()

    panels = [(spearman, "Spearman rank correlation of |a|")] + (
        [(ssim, "SSIM of |a|")] if ssim else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), dpi=120, sharey=True,
                             squeeze=False)
    axes = axes[0]
    steps = list(range(len(layers) + 1))
    for ax, (curves, name) in zip(axes, panels):
        for label, values in curves.items():
            line, = ax.plot(steps[:len(values)], values, marker="o", markersize=3, label=label)
            if spread and label in spread and curves is spearman:
                ax.fill_between(steps[:len(values)], [v - d for v, d in zip(values, spread[label])],
                                [v + d for v, d in zip(values, spread[label])],
                                color=line.get_color(), alpha=0.15)
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_xticks(steps)
        ax.set_xticklabels(["trained", *layers], rotation=45, ha="right", fontsize=7)
        ax.set_xlabel("randomised down to layer")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("similarity to the trained model's attribution")
    axes[0].set_ylim(-0.2, 1.05)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_claims(rows: list[tuple[str, str, float, float, float]], path: str | Path,
                title: str = "") -> Path:
    """One 95% interval per claim, `rows` = (claim, metric, mean, low, high) of A - B: a claim
    holds where its whole bar is right of 0. A panel per metric (their units differ)."""
    plt = _pyplot()

    metrics = list(dict.fromkeys(r[1] for r in rows))
    sizes = [sum(r[1] == m for r in rows) for m in metrics]
    fig, axes = plt.subplots(len(metrics), 1, figsize=(8, 1.1 + 0.55 * len(rows)), dpi=120,
                             gridspec_kw={"height_ratios": sizes}, squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics):
        mine = [r for r in rows if r[1] == metric][::-1]  # first claim on top
        for y, (_, _, mean, low, high) in enumerate(mine):
            colour = "#55a868" if low > 0 else "#c44e52" if high < 0 else "#8c8c8c"
            ax.errorbar(mean, y, xerr=[[mean - low], [high - mean]], fmt="o", color=colour,
                        capsize=4, markersize=5)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(mine)), [r[0] for r in mine], fontsize=8)
        ax.set_ylim(-0.6, len(mine) - 0.4)
        unit = "accuracy points" if metric == "accuracy" else metric.upper()
        ax.set_xlabel(f"margin in the claim's favour, {unit} (mean over seeds, 95% interval)",
                      fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[0, 0].set_title(title or "The claims: green holds, grey not resolved, red reversed",
                         fontsize=10)
    return _save(fig, path)


def plot_saliency_grid(images: torch.Tensor, maps: dict[str, torch.Tensor], path: str | Path,
                       title: str = "", row_labels: list[str] | None = None) -> Path:
    """Rows: test images; columns: the input, then one saliency map per label (Figure 2 style).

    `images` uint8 (N, C, H, W); `maps[label]` (N, H, W), each row scaled to its own maximum (the
    colour bar: saliency relative to that maximum); `row_labels`: each image's class.
    """
    plt = _pyplot()

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
    for j, label in enumerate(["input", *maps], start=0):
        axes[0][j].set_title(label, fontsize=9)
    if shown is not None:
        bar = fig.colorbar(shown, ax=axes[:, 1:].ravel().tolist(), fraction=0.03, pad=0.02)
        bar.set_label("saliency / the map's maximum", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path, tight=shown is None)


def plot_explanation(image: torch.Tensor, maps: dict[str, torch.Tensor], path: str | Path,
                     title: str = "") -> Path:
    """One image explained: the input, then per method the saliency over the image (overlay)
    and the map itself with its colour bar. `image` uint8 (C, H, W); `maps[label]` (H, W)."""
    plt = _pyplot()

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
    return _save(fig, path)


def plot_motivation(curves: torch.Tensor, rising: torch.Tensor, fractions, path: str | Path,
                    title: str = "", per_kind: int = 5) -> Path:
    """Typical label-probability curves of both kinds: falling (class I) and rise-then-fall (II)."""
    plt = _pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), dpi=120, sharey=True)
    gen = torch.Generator().manual_seed(0)
    for ax, kind, label in ((axes[0], ~rising, "falls from the start (class I)"),
                            (axes[1], rising, "rises, then falls (class II)")):
        idx = torch.nonzero(kind).flatten()
        pick = idx[torch.randperm(idx.numel(), generator=gen)[:per_kind]]
        for i in pick.tolist():
            ax.plot(fractions, curves[i].numpy(), marker=".", markersize=3)
        ax.set_title(f"{label}: {idx.numel()} images", fontsize=9)
        ax.set_xlabel("fraction of highest-gradient pixels masked")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("probability of the label")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_objective_vs_params(rows: list[dict], dimensions: list, objective: str, path: str | Path) -> Path:
    """One panel per searched setting: each trial's objective against its value."""
    plt = _pyplot()

    n = max(1, len(dimensions))
    fig, axes = plt.subplots(1, n, figsize=(3 * n, 3), dpi=120, sharey=True, squeeze=False)
    for ax, d in zip(axes[0], dimensions):
        xs = [r[d.name] for r in rows]
        ys = [r["objective"] for r in rows]
        ax.scatter(xs, ys, s=18, c=[r["epochs"] for r in rows], cmap="viridis")
        if d.kind == "loguniform":
            ax.set_xscale("log")
        ax.set_xlabel(d.name)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"objective ({objective})")
    fig.suptitle("trials (colour: epochs completed)", fontsize=9)
    return _save(fig, path)
