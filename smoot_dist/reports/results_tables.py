"""The results page's tables, shared by its sections (results_page: the paper's comparison;
tuned_page: tuned against tuned): runs grouped by their label, our table, the paired claims,
K per epoch and the wall time, each as Markdown lines from a dataset record."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from ..foundations.catalog import dataset_label, decoy_source
from ..config import METHODS
from ..metrics import percent_keys, table_columns
from .comparison import count_label, headed, mean_std, plus_minus
from .paired import (DECOY_COMPARED, TUNED_CLAIMS, TUNED_COMPARED, PairedDifference,
                     claim_table)


TUNED_SUFFIX = "_tuned"  # a run label: the method with its sweep's best settings



def method_title(label: str) -> str:
    """'smoot' -> 'SMOOT', 'smoot_tuned' -> 'SMOOT (tuned)'."""
    base = label.removesuffix(TUNED_SUFFIX)
    return METHODS.get(base, base) + (" (tuned)" if label.endswith(TUNED_SUFFIX) else "")


def method_order(label: str) -> tuple[int, bool]:
    base = label.removesuffix(TUNED_SUFFIX)
    return (list(METHODS).index(base) if base in METHODS else 99, label != base)


def is_tuned(record: dict[str, Any]) -> bool:
    """A record of the tuned-against-tuned section (jobs/reproduce.py --tune)."""
    return bool(record.get("tuning"))


def record_name(record: dict[str, Any]) -> str:
    """The record's file stem and its figures' prefix: the dataset's label, `-tuned` for the
    tuned section (so that the two sections of one dataset never overwrite each other)."""
    return dataset_label(record["dataset"]) + ("_tuned" if is_tuned(record) else "")


def by_method(record: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(record["runs"], key=lambda r: r["seed"]):
        out.setdefault(r["method"], []).append(r)
    return {m: out[m] for m in sorted(out, key=method_order)}


def k_label(record: dict[str, Any]) -> str:
    """Whose K the K figures and table show: the tuned SMOOT's in the tuned section."""
    return "smoot" + (TUNED_SUFFIX if is_tuned(record) else "")


def fmt_values(values: list[float], digits: int = 2, unit: str = "") -> str:
    return plus_minus(*mean_std(values), len(values), digits, unit) if values else "-"


def battery_columns_of(record: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [c for c in table_columns() if any(c[1] in r.get("battery", {}) for r in record["runs"])]


def our_table(record: dict[str, Any]) -> list[str]:
    columns, percent = battery_columns_of(record), percent_keys()
    lines = [f"| {record['title']} | # Test | Min(K) | Median(K) | Max(K) | Accuracy | "
             "AUC (Grad, MoRF) ↓ | SRG (Grad) ↑ | "
             + "".join(f"{headed(title, key)} | " for _, key, title in columns) + "seeds |",
             "|---" * (9 + len(columns)) + "|"]
    for method, rs in by_method(record).items():
        k = " | ".join(fmt_values([float(r["k"][key]) for r in rs], 0) for key in ("min", "median", "max"))
        aucs = [r["auc"] for r in rs if r["auc"] is not None]
        gains = [r["srg"] for r in rs if r["srg"] is not None]
        battery = ""
        for _, key, _ in columns:
            values = [r["battery"][key] for r in rs if key in r.get("battery", {})]
            scale = 100.0 if key in percent else 1.0
            battery += (fmt_values([scale * v for v in values], 3) if len(values) == len(rs) else "-") + " | "
        lines.append(f"| {method_title(method)} | {count_label(max(r['num_test'] for r in rs))} | "
                     f"{k} | {fmt_values([r['accuracy'] for r in rs], unit='%')} | "
                     f"{fmt_values(aucs) if len(aucs) == len(rs) else '-'} | "
                     f"{fmt_values(gains) if len(gains) == len(rs) else '-'} | {battery}{len(rs)} |")
    return lines


def claim_rows(record: dict[str, Any]) -> list[PairedDifference]:
    values: dict[str, dict[str, dict[int, float]]] = {"accuracy": {}, "auc": {}}
    percent = percent_keys()
    for r in record["runs"]:
        values["accuracy"].setdefault(r["method"], {})[r["seed"]] = r["accuracy"]
        if r["auc"] is not None:
            values["auc"].setdefault(r["method"], {})[r["seed"]] = r["auc"]
        for key, value in (r.get("battery") or {}).items():
            scale = 100.0 if key in percent else 1.0
            values.setdefault(key, {}).setdefault(r["method"], {})[r["seed"]] = scale * value
    titles = {key: title for _, key, title in table_columns()}
    if is_tuned(record):
        return claim_table(values, titles, TUNED_CLAIMS, TUNED_COMPARED)
    if decoy_source(record["dataset"]) is not None:  # the Shortcuts part: the shortcut's columns
        shortcut = {key: title for family, key, title in table_columns() if family == "shortcut"}
        return claim_table(values, shortcut, (), DECOY_COMPARED)
    return claim_table(values, titles)


def claim_lines(record: dict[str, Any]) -> list[str]:
    rows = claim_rows(record)
    if not rows:
        return []
    lines = ["| Claim | A - B, mean over seeds | 95% interval | seeds | at this scale |",
             "|---|---|---|---|---|"]
    for c in rows:
        unit = " points" if c.metric == "accuracy" or c.metric in percent_keys() else ""
        interval = f"[{c.low:+.2f}, {c.high:+.2f}]" if c.n > 1 else "-"
        lines.append(f"| {c.claim} (A = {method_title(c.a)}, B = {method_title(c.b)}) | {c.mean:+.2f}{unit} | "
                     f"{interval} | {c.n} | {c.verdict} |")
    return lines


def k_epochs_table(record: dict[str, Any]) -> list[str]:
    smoot = by_method(record).get(k_label(record), [])
    if not smoot:
        return []
    lines = ["| epoch | Min(K) | Median(K) | Max(K) | at k_min | at k_max |", "|---" * 6 + "|"]
    for i, row in enumerate(smoot[0]["k_epochs"]):
        def avg(key: str, scale: float = 1.0) -> float:
            return scale * statistics.fmean(r["k_epochs"][i][key] for r in smoot)
        lines.append(f"| {row['epoch']} | {avg('k_min'):.0f} | {avg('k_median'):.1f} | "
                     f"{avg('k_max'):.0f} | {avg('k_share_at_min', 100):.1f}% | "
                     f"{avg('k_share_at_max', 100):.1f}% |")
    return lines


def folder_of(folders: list, run: str) -> Path:
    """The folder of the record's run named `run`, among the reproduction's run folders."""
    return next(Path(f) for f in folders if Path(f).name == run)


def figure_lines(record: dict[str, Any], figdir_name: str, *captioned: tuple[str, str]) -> list[str]:
    """Each (figure key, caption) the record has a figure for, as a Markdown image line."""
    figures = record.get("figures", {})
    return [line for key, caption in captioned if key in figures
            for line in (f"![{record['title']}: {caption}]({figdir_name}/{figures[key]})", "")]


def wall_time_text(record: dict[str, Any]) -> str:
    """This command's wall time; when it reused runs of an earlier command with the same --id
    (added seeds), also what all the runs took, which is what the command costs from scratch."""
    wall = record["wall_s"]
    text = f"Wall time {wall / 60:.0f} min" if wall >= 60 else f"Wall time {wall:.0f} s"
    reused, runs = record.get("reused", 0), record["runs"]
    if not reused:
        return text
    total = sum((r.get("wall_time_s") or 0) + (r.get("eval_time_s") or 0) for r in runs)
    return (f"{text}: this command reused {reused} of its {len(runs)} runs from an earlier one with "
            f"the same --id; training and evaluating all {len(runs)} took {total / 60:.0f} min")
