"""The results page's "Tuned against tuned" section: what `jobs/reproduce.py --tune` adds to a
dataset's record (the sweeps: their spaces, best trials, wall times and best settings) and how
the section renders it beside the confirmation runs' table and paired claims.

The record is the dataset record of results_page (its runs labelled `<method>_tuned` for the
sweeps' best settings), saved as `<dataset>_tuned.json` so it never replaces the section that
trains with the paper's settings."""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path
from typing import Any

from ..config import JobConfig
from .paper_tables import PAPER_TABLES
from .results_tables import (TUNED_SUFFIX, by_method, claim_lines, figure_lines, k_epochs_table,
                             k_label, method_title, our_table, record_name, wall_time_text)

# what a trial's sweep row holds beside its settings (sweep/ray_tune.trial_rows)
_ROW_KEYS = ("trial", "epochs", "objective", "val_accuracy", "val_auc_grad", "K_min", "K_median",
             "K_max")
SETTING_ORDER = ("alpha", "beta", "k_min", "k_max", "k0", "lambda", "fill", "n")
# the row names of the settings table, where the config's short name needs a word
SETTING_NAMES = {"n": "n (top-n classes)"}
_KINDS = {"uniform": "uniform", "loguniform": "log-uniform", "choice": "one of"}


def tuned_label(method: str) -> str:
    return method + TUNED_SUFFIX


def tuning_record(tuned: list, cfg: JobConfig) -> dict[str, Any]:
    """The record's `tuning` (one entry per sweep) and `preset` (the untuned method settings)."""
    preset = {k: v for k, v in cfg.to_dict(("method",))["method"].items() if k != "name"}
    entries = []
    for t in tuned:
        s = t.sweep
        best = s["best"]
        entries.append({
            "space": t.space, "method": t.method, "label": tuned_label(t.method),
            "sweep": s["sweep"], "dimensions": t.dimensions,
            "settings": {k: v for k, v in t.settings.items() if k != "name"},
            "objective": s["objective"], "mode": s["mode"],
            "objective_images": s.get("objective_images"), "val_images": s.get("val_images"),
            "num_samples": s.get("num_samples", len(s["trials"])), "trials": len(s["trials"]),
            "asha_rungs": s.get("asha_rungs"),
            "epochs_trained": sum(r["epochs"] for r in s["trials"]),
            "best": {k: best.get(k) for k in (*_ROW_KEYS, *(d["name"] for d in t.dimensions))},
            "wall_s": s.get("wall_s"), "output_dir": s["output_dir"], "reused": t.reused,
        })
    return {"tuning": entries, "preset": preset}


def copy_sweep_plots(record: dict[str, Any], figdir: Path) -> dict[str, str]:
    """Each sweep's objective-vs-settings plot, copied beside the page's figures."""
    files = {}
    for t in record.get("tuning", []):
        source = Path(t["output_dir"]) / "objective_vs_params.png"
        if source.is_file():
            name = f"{record_name(record)}_objective_{t['space']}.png"
            shutil.copyfile(source, figdir / name)
            files[f"objective_{t['space']}"] = name
    return files


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _space_table(record: dict[str, Any]) -> list[str]:
    tuning = record["tuning"]
    names = [n for n in SETTING_ORDER if any(d["name"] == n for t in tuning for d in t["dimensions"])]
    lines = ["| setting | " + " | ".join(f"{method_title(t['method'])} (`{t['space']}`)"
                                         for t in tuning) + " |", "|---" * (1 + len(tuning)) + "|"]
    for name in names:
        cells = []
        for t in tuning:
            d = next((d for d in t["dimensions"] if d["name"] == name), None)
            if d is None:
                cells.append("not read")
            elif d["kind"] == "fixed":
                cells.append(f"fixed {_fmt_value(d['values'][0])}")
            elif d["kind"] == "choice":
                cells.append("one of " + ", ".join(map(str, d["values"])))
            else:
                cells.append(f"{_KINDS[d['kind']]} [{_fmt_value(d['values'][0])}, "
                             f"{_fmt_value(d['values'][1])}]")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _best_rows(record: dict[str, Any]) -> list[str]:
    lines = ["| sweep | trials (epochs trained) | wall time | best trial | its epochs | objective "
             "| val accuracy | val AUC (Grad) | K min / median / max |", "|---" * 9 + "|"]
    for t in record["tuning"]:
        b = t["best"]
        wall = f"{t['wall_s'] / 60:.0f} min" if t.get("wall_s") else "-"
        k = " / ".join(_fmt_value(b.get(key)) for key in ("K_min", "K_median", "K_max"))
        val_acc = f"{100 * b['val_accuracy']:.2f}%" if b.get("val_accuracy") is not None else "-"
        lines.append(f"| {method_title(t['method'])} (`{t['sweep']}`) | {t['trials']} "
                     f"({t['epochs_trained']}) | {wall} | {b['trial']} | {b['epochs']} | "
                     f"{_fmt_value(b['objective'])} | {val_acc} | {_fmt_value(b.get('val_auc_grad'))} "
                     f"| {k} |")
    return lines


def _settings_table(record: dict[str, Any]) -> list[str]:
    tuning, preset = record["tuning"], record.get("preset", {})
    names = [n for n in SETTING_ORDER if any(n in t["settings"] for t in tuning) or n in preset]
    lines = ["| setting | preset (untuned) | " + " | ".join(method_title(t["label"]) for t in tuning)
             + " |", "|---" * (2 + len(tuning)) + "|"]
    for name in names:
        searched = lambda t: any(d["name"] == name and d["kind"] != "fixed"  # noqa: E731
                                 for d in t["dimensions"])
        cells = [(f"**{_fmt_value(t['settings'].get(name))}**" if searched(t)
                  else _fmt_value(t["settings"].get(name))) for t in tuning]
        lines.append(f"| {SETTING_NAMES.get(name, name)} | {_fmt_value(preset.get(name))} | "
                     + " | ".join(cells) + " |")
    return lines


def _k_beside_paper(record: dict[str, Any]) -> list[str]:
    """Final K of the tuned and the untuned SMOOT here, and the paper's (100 epochs, 60k)."""
    groups = by_method(record)
    lines = ["| | Min(K) | Median(K) | Max(K) | bounds (pixels) |", "|---" * 5 + "|"]
    preset_bounds = "-"
    for label in ("smoot", k_label(record)):
        rs = groups.get(label)
        if rs:
            k = [statistics.fmean(float(r["k"][key]) for r in rs) for key in ("min", "median", "max")]
            pixels, bounds = rs[0].get("num_pixels"), rs[0].get("k_bounds")
            shown = (f"{round(bounds[0] * pixels)} - {round(bounds[1] * pixels)}"
                     if pixels and bounds else "-")
            lines.append(f"| {method_title(label)}, here (mean over {len(rs)} seeds) | "
                         + " | ".join(f"{v:.0f}" for v in k) + f" | {shown} |")
            preset_bounds = shown if label == "smoot" else preset_bounds
    paper = PAPER_TABLES.get(record["dataset"], (None, {}))[1].get("smoot")
    if paper:
        lines.append("| SMOOT, the paper (100 epochs, all training images) | "
                     + " | ".join(map(str, paper["k"])) + f" | {preset_bounds} |")  # Table 1's
    return lines if len(lines) > 2 else []


def tuned_section(record: dict[str, Any], figdir_name: str) -> list[str]:
    figures = record.get("figures", {})
    tuning = record["tuning"]
    first = tuning[0]
    seeds = sorted({r["seed"] for r in record["runs"]})
    num_test = max(r["num_test"] for r in record["runs"])
    objective = {"combined": "100 × validation accuracy − validation Grad AUC (higher is "
                             "better)", "auc": "validation Grad AUC (lower is better)",
                 "accuracy": "validation accuracy"}.get(first["objective"], first["objective"])
    rungs = (f"rungs after {', '.join(map(str, first['asha_rungs']))} epoch(s), the better half "
             f"of each rung goes on" if first.get("asha_rungs") else "early stopping")
    out = [f"## Tuned against tuned: {record['title']}", "", "```", record["command"], "```", "",
           f"Protocol `{record['protocol']}`: {record['settings']}. Each sweep: "
           f"{first['num_samples']} trials of the same ASHA schedule ({rungs}), "
           f"{first['val_images']:,} validation images held "
           f"out of the training data (every run of this section holds out the same ones); "
           f"objective per epoch: {objective}, the AUC on {first['objective_images']:,} of those "
           f"images; the best trial is the best of those that ran all epochs. No sweep read a "
           f"test image. Confirmation: each sweep's best setting and the untuned methods, seeds "
           f"{', '.join(map(str, seeds))}, accuracy on {num_test:,} test images and the same "
           f"evaluation as the sections above.", "",
           f"Machine: {record['machine']}. {wall_time_text(record)}. Commit `{record['commit']}`, "
           f"{record['date']}.", "",
           "### The search spaces", "", *_space_table(record), "",
           "### The sweeps' best trials", "", *_best_rows(record), ""]
    for t in tuning:
        key = f"objective_{t['space']}"
        if key in figures:
            out += [f"![{record['title']}: {method_title(t['method'])} sweep, objective against "
                    f"each setting]({figdir_name}/{figures[key]})", ""]
    out += ["### The best configurations", "",
            "Searched settings in bold; the others are the dataset's preset.", "",
            *_settings_table(record), "",
            "### Confirmation on the test set", "", *our_table(record), ""]
    claims = claim_lines(record)
    if claims:
        out += ["Paired by seed (A minus B over the seeds both ran, 95% Student-t interval; a "
                "claim holds when the whole interval is on its side of 0):", "", *claims, ""]
        if "claims" in figures:
            out += [f"![{record['title']}: the tuned claims' intervals]"
                    f"({figdir_name}/{figures['claims']})", ""]
    k_final = _k_beside_paper(record)
    if k_final:
        out += [f"### K under the tuned alpha ({_fmt_value(_tuned_alpha(record))})", "",
                *k_final, "", *k_epochs_table(record), ""]
    return out + figure_lines(record, figdir_name,
                              ("k_trajectory", "tuned SMOOT's K per epoch"),
                              ("drop_curves", "accuracy drop, tuned and untuned"))


def _tuned_alpha(record: dict[str, Any]) -> Any:
    return next((t["settings"].get("alpha") for t in record["tuning"] if t["method"] == "smoot"),
                None)
