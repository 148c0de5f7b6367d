"""The paper's results table from finished runs, with seeds aggregated as mean +- std.

    Method | #Test | Min(K) | Median(K) | Max(K) | Accuracy | AUC [| SRG] [| battery ...]

The AUC, SRG and battery columns come from one evaluation record per run, the same protocol for
every run (select_protocol: the one the most runs share, or the one asked for), and the table
says which. AUC is the MoRF AUC of one attribution method (lower is better); SRG = AUC(LeRF) -
AUC(MoRF) (higher is better) appears when that evaluation has both orders, and a column per
battery column it has (the metric registry's table columns, grouped by family; the arrow says
which way is better).

Runs come from run folders (no MLflow needed: the GPU machine has none) or from MLflow.
"""

from __future__ import annotations

import csv
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..foundations.catalog import dataset_title
from ..config import METHODS
from ..config.identity import differing, settings_label, training_settings
from ..foundations.errors import UserError
from ..runs.folder import EVALUATION_DIR, SUMMARY_FILE, RunFolder
from ..metrics.faithfulness.drop import DropCurves
from ..evaluation.protocol import Protocol
from ..metrics import (has_direction, higher_is_better, method_free_keys, percent_keys,
                       table_columns)
from ..evaluation.record import EvaluationRecord, run_records
from ..runs.tracking import finished_run_ids, try_download


def headed(title: str, key: str) -> str:
    """A table column's header: its title and its direction's arrow, where it has one."""
    return f"{title} {arrow(key)}".rstrip()


def arrow(metric: str) -> str:
    """The direction that counts as better, for a table's header ("" for a column without one)."""
    if not has_direction(metric):
        return ""
    return "↑" if higher_is_better(metric) else "↓"


@dataclass
class RunRecord:
    name: str
    dataset: str
    method: str
    seed: int
    num_test: int
    k: dict[str, float]  # min, median, max (pixel counts)
    accuracy: float  # fraction
    evaluations: list[EvaluationRecord] = field(default_factory=list)  # every one it has
    source: str = ""  # run folder, or MLflow run id
    evaluation: EvaluationRecord | None = None  # the one tables show (select_protocol)
    settings: dict[str, Any] = field(default_factory=dict)  # config/identity: all but the seed

    @property
    def auc(self) -> dict[str, float]:
        """Attribution method -> MoRF AUC of the selected evaluation."""
        return dict(self.evaluation.metrics.get("auc", {})) if self.evaluation else {}

    @property
    def srg(self) -> dict[str, float]:
        return dict(self.evaluation.metrics.get("srg", {})) if self.evaluation else {}

    @property
    def curves(self) -> DropCurves | None:
        return self.evaluation.curves if self.evaluation else None

    def value(self, metric: str, method: str) -> float | None:
        if self.evaluation is None:
            return None
        if metric in method_free_keys():
            return self.evaluation.value(metric)
        return self.evaluation.value(metric, method)


def record_from_folder(path: Path) -> RunRecord:
    folder = RunFolder(path)
    s = folder.read_summary()
    if s is None:
        raise UserError(f"{path} has no {SUMMARY_FILE}: not a finished run folder")
    damaged: list[str] = []
    evaluations = run_records(folder.evaluation_dir, s, damaged)
    for line in damaged:  # never a silent fall-back to another evaluation
        print(f"warning: {line}", flush=True)
    return RunRecord(
        name=s.get("run_name", path.name), dataset=s["dataset"], method=s["method"],
        seed=s["config"]["train"]["seed"], num_test=s.get("num_test", 0), k=s["k"],
        accuracy=s["test_accuracy"], evaluations=evaluations,
        source=str(path), settings=training_settings(s["config"]))


def select_protocol(records: list[RunRecord], wanted: str | None = None) -> Protocol | None:
    """The evaluation every table of `records` shows, set on each record (None where a run does
    not have it): the protocol `wanted` names, else the one the most runs share (a fuller
    jobs/evaluate.py one before the closing one of training, then more images, the newer)."""
    by_id: dict[str, list[EvaluationRecord]] = {}
    for r in records:
        for e in r.evaluations:
            by_id.setdefault(e.id, []).append(e)
    if wanted is not None and wanted not in by_id:
        known = ", ".join(sorted(by_id)) or "none"
        raise UserError(f"no run here has the evaluation {wanted!r}; the runs have: {known}")
    if not by_id:
        return None
    chosen = wanted or max(by_id, key=lambda i: (
        len(by_id[i]), not by_id[i][0].protocol.closing, by_id[i][0].protocol.images,
        max(str(e.about.get("written", "")) for e in by_id[i])))
    for r in records:
        r.evaluation = next((e for e in r.evaluations if e.id == chosen), None)
    return by_id[chosen][0].protocol


def records_from_mlflow(uri: str, experiment: str, tags: dict[str, str] | None = None,
                        run_ids: list[str] | None = None) -> list[RunRecord]:
    records = []
    for run_id in finished_run_ids(uri, experiment, tags, run_ids):
        folder = Path(tempfile.mkdtemp(prefix="smoot-compare-"))
        if not try_download(uri, run_id, SUMMARY_FILE, folder):
            continue  # not a training run of ours (or an unfinished one)
        try_download(uri, run_id, EVALUATION_DIR, folder)  # not evaluated: no AUC, no curves
        record = record_from_folder(folder)
        record.source = run_id
        records.append(record)
    return records


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def columns_mean_std(rows: list[list[float]]) -> tuple[list[float], list[float]]:
    """Mean and std at each position of equally long rows (e.g. drop curves over seeds)."""
    stats = [mean_std(list(col)) for col in zip(*rows)]
    return [m for m, _ in stats], [s for _, s in stats]


@dataclass
class TableRow:
    dataset: str
    method: str
    runs: int
    num_test: int
    k: dict[str, tuple[float, float]]  # min/median/max -> (mean, std)
    accuracy: tuple[float, float]  # percent
    auc: tuple[float, float] | None
    curve: tuple[list[float], list[float]] | None  # mean and std of the drop curve (auc method)
    srg: tuple[float, float] | None = None
    battery: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> mean, std
    setting: str = ""  # the settings this row differs in from its method's other rows
    names: list[str] = field(default_factory=list)  # the runs pooled in it


def aggregate(records: list[RunRecord], auc_method: str = "grad") -> list[TableRow]:
    """One row per dataset, method and setting: runs are pooled as seeds only when their
    training settings agree (config/identity), and rows of one method that differ are labelled
    with the settings they differ in."""
    groups: dict[tuple[str, str, str], list[RunRecord]] = {}
    for r in records:
        groups.setdefault((r.dataset, r.method, repr(sorted(r.settings.items()))), []).append(r)
    labels = _setting_labels(groups)
    order = {m: i for i, m in enumerate(METHODS)}
    rows = []
    for key, rs in sorted(groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 9),
                                                          labels[kv[0]])):
        dataset, method, _ = key
        aucs = [r.auc[auc_method] for r in rs if auc_method in r.auc]
        gains = [r.srg[auc_method] for r in rs if auc_method in r.srg]
        curves = [r.curves.accuracy[auc_method] for r in rs
                  if r.curves is not None and auc_method in r.curves.accuracy]
        curve = columns_mean_std(curves) if curves else None
        rows.append(TableRow(
            dataset, method, len(rs), max(r.num_test for r in rs),
            {k: mean_std([float(r.k[k]) for r in rs]) for k in ("min", "median", "max")},
            mean_std([100.0 * r.accuracy for r in rs]),
            mean_std(aucs) if len(aucs) == len(rs) else None, curve,
            mean_std(gains) if len(gains) == len(rs) else None, _battery(rs, auc_method),
            labels[key], [r.name for r in rs]))
    return rows


def _setting_labels(groups: dict[tuple[str, str, str], list[RunRecord]]) -> dict[tuple, str]:
    """Per group, the values of the settings in which it differs from the other groups of its
    dataset and method ('' where it is the only one)."""
    labels = {}
    for key, rs in groups.items():
        siblings = [g[0].settings for k, g in groups.items() if k[:2] == key[:2]]
        labels[key] = settings_label(rs[0].settings, differing(siblings)) if len(siblings) > 1 \
            else ""
    return labels


def row_title(row: "TableRow") -> str:
    """`SMOOT` or, where a method has rows of several settings, `SMOOT [method.beta=0.9]`."""
    title = METHODS.get(row.method, row.method)
    return f"{title} [{row.setting}]" if row.setting else title


def _battery(rs: list[RunRecord], method: str) -> dict[str, tuple[float, float]]:
    """Mean and std of each battery column that every run of the group has."""
    out = {}
    percent = percent_keys()
    for _, key, _ in table_columns():
        values = [r.value(key, method) for r in rs]
        if values and all(v is not None for v in values):
            scale = 100.0 if key in percent else 1.0  # a share -> percent, as accuracy
            out[key] = mean_std([scale * v for v in values])
    return out


def plus_minus(mean: float, std: float, runs: int, digits: int = 2, unit: str = "") -> str:
    return f"{mean:.{digits}f}{unit}" if runs == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}{unit}"


def count_label(n: int | None) -> str:
    """10000 -> '10K', as the paper's tables give test-set sizes; '-' when unknown."""
    return "-" if not n else (f"{n / 1000:g}K" if n >= 1000 else str(n))


def battery_columns(rows: list[TableRow]) -> list[tuple[str, str, str]]:
    """The battery's columns some row has, in the metric registry's order."""
    return [c for c in table_columns() if any(c[1] in r.battery for r in rows)]


def families_line(columns: list[tuple[str, str, str]]) -> str:
    """`randomisation: MPRT, Random logit; localisation: ...`: the column groups in words."""
    groups: dict[str, list[str]] = {}
    for family, _, title in columns:
        groups.setdefault(family, []).append(title)
    return "; ".join(f"{family}: {', '.join(titles)}" for family, titles in groups.items())


def markdown_table(rows: list[TableRow]) -> str:
    out = []
    for dataset in dict.fromkeys(r.dataset for r in rows):
        these = [r for r in rows if r.dataset == dataset]
        with_srg = any(r.srg for r in these)
        columns = battery_columns(these)
        out.append(f"{dataset_title(dataset)} | # Test | Min(K) | Median(K) | Max(K) | Accuracy | AUC ↓ | "
                   + ("SRG ↑ | " if with_srg else "")
                   + "".join(f"{headed(title, key)} | " for _, key, title in columns) + "runs")
        out.append("---|" * (7 + with_srg + len(columns)) + "---")
        for r in these:
            k = " | ".join(plus_minus(*r.k[key], r.runs, 0) for key in ("min", "median", "max"))
            auc = plus_minus(*r.auc, r.runs) if r.auc else "-"
            gain = ((plus_minus(*r.srg, r.runs) if r.srg else "-") + " | ") if with_srg else ""
            battery = "".join((plus_minus(*r.battery[key], r.runs, 3) if key in r.battery
                               else "-") + " | " for _, key, _ in columns)
            out.append(f"{row_title(r)} | {count_label(r.num_test)} | {k} | "
                       f"{plus_minus(*r.accuracy, r.runs, unit='%')} | {auc} | {gain}{battery}"
                       f"{r.runs}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def write_csv(rows: list[TableRow], path: str | Path, protocol_id: str | None = None) -> Path:
    """One row per group; `evaluation`: the protocol id its AUC and battery come from."""
    path = Path(path)
    columns = battery_columns(rows)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "method", "runs", "num_test", "k_min_mean", "k_min_std",
                    "k_median_mean", "k_median_std", "k_max_mean", "k_max_std",
                    "accuracy_mean", "accuracy_std", "auc_mean", "auc_std", "srg_mean", "srg_std",
                    *(f"{key}_{stat}" for _, key, _ in columns for stat in ("mean", "std")),
                    "evaluation", "setting"])
        for r in rows:
            w.writerow([r.dataset, r.method, r.runs, r.num_test,
                        *(f"{v:.4f}" for key in ("min", "median", "max") for v in r.k[key]),
                        *(f"{v:.4f}" for v in r.accuracy),
                        *((f"{v:.4f}" for v in r.auc) if r.auc else ("", "")),
                        *((f"{v:.4f}" for v in r.srg) if r.srg else ("", "")),
                        *(f"{v:.6g}" if key in r.battery else "" for _, key, _ in columns
                          for v in r.battery.get(key, (0.0, 0.0))),
                        protocol_id or "", r.setting])
    return path
