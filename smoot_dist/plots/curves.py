"""Curves and intervals: accuracy-drop curves, MPRT's similarity by layer, the paired claims
with their intervals, the motivation experiment, a sweep's objective against its settings."""

from __future__ import annotations

from pathlib import Path

import torch

from .figure import CONTROLS, STYLES, pyplot, save


def plot_drop_curves(curves: dict[str, list[float]], fractions, path: str | Path, title: str = "",
                     spread: dict[str, list[float]] | None = None, chance: float | None = None,
                     aucs: dict[str, float] | None = None) -> Path:
    """Accuracy (%) against the removed fraction, one line per label (with an optional +- band),
    each with its own marker and dash; Random as a grey dashed control; `chance` (%) as a
    dotted line; `aucs[label]` in the legend."""
    plt = pyplot()

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
    return save(fig, path)


def plot_mprt(spearman: dict[str, list[float]], ssim: dict[str, list[float]] | None,
              layers: list[str], path: str | Path, title: str = "",
              spread: dict[str, list[float]] | None = None) -> Path:
    """Model-parameter randomisation: similarity to the trained model's attribution against the
    layers randomised so far (cumulative, from the output down), one line per method; Spearman
    of |a| on the left, SSIM (where given) on the right; `spread`: a +- band on the Spearman
    lines (e.g. the std over seeds). A method that depends on the weights falls to 0."""
    plt = pyplot()

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
    return save(fig, path)


def plot_claims(rows: list[tuple[str, str, float, float, float]], path: str | Path,
                title: str = "") -> Path:
    """One 95% interval per claim, `rows` = (claim, metric, mean, low, high) of A - B: a claim
    holds where its whole bar is right of 0. A panel per metric (their units differ)."""
    plt = pyplot()

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
    return save(fig, path)


def plot_motivation(curves: torch.Tensor, rising: torch.Tensor, fractions, path: str | Path,
                    title: str = "", per_kind: int = 5) -> Path:
    """Typical label-probability curves of both kinds: falling (class I) and rise-then-fall (II)."""
    plt = pyplot()

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
    return save(fig, path)


def plot_objective_vs_params(rows: list[dict], dimensions: list, objective: str, path: str | Path) -> Path:
    """One panel per searched setting: each trial's objective against its value."""
    plt = pyplot()

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
    return save(fig, path)
