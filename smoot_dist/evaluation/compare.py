"""The paper's results table from finished runs, with seeds aggregated as mean +- std.

    Method | #Test | Min(K) | Median(K) | Max(K) | Accuracy | AUC [| SRG]

AUC is the MoRF AUC of one attribution method (lower is better); SRG = AUC(LeRF) - AUC(MoRF)
(higher is better) appears when the runs were evaluated with both orders.

Runs come from run folders (no MLflow needed: the GPU machine has none) or from MLflow.
"""

from __future__ import annotations

import csv
import json
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..config import METHODS
from ..errors import UserError
from ..run_folder import AUC_JSON, DROP_CURVES_CSV, EVALUATION_DIR, SUMMARY_FILE, RunFolder
from .drop import DropCurves
from ..tracking import finished_run_ids, try_download


@dataclass
class RunRecord:
    name: str
    dataset: str
    method: str
    seed: int
    num_test: int
    k: dict[str, float]  # min, median, max (pixel counts)
    accuracy: float  # fraction
    auc: dict[str, float] = field(default_factory=dict)  # attribution method -> AUC
    curves: DropCurves | None = None
    srg: dict[str, float] = field(default_factory=dict)  # attribution method -> SRG
    source: str = ""  # run folder, or MLflow run id


def record_from_folder(path: Path) -> RunRecord:
    folder = RunFolder(path)
    s = folder.read_summary()
    if s is None:
        raise UserError(f"{path} has no {SUMMARY_FILE}: not a finished run folder")
    auc_path = folder.evaluation_dir / AUC_JSON
    curves_path = folder.evaluation_dir / DROP_CURVES_CSV
    evaluation = json.loads(auc_path.read_text()) if auc_path.is_file() else {}
    return RunRecord(
        name=s.get("run_name", path.name), dataset=s["dataset"], method=s["method"],
        seed=s["config"]["train"]["seed"], num_test=s.get("num_test", 0), k=s["k"],
        accuracy=s["test_accuracy"],
        # the fuller evaluation where there is one, else the run's own final one
        auc=evaluation.get("auc") or s.get("auc", {}), srg=evaluation.get("srg", {}),
        curves=DropCurves.read_csv(curves_path) if curves_path.is_file() else None,
        source=str(path))


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


def aggregate(records: list[RunRecord], auc_method: str = "grad") -> list[TableRow]:
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for r in records:
        groups.setdefault((r.dataset, r.method), []).append(r)
    rows = []
    order = {m: i for i, m in enumerate(METHODS)}
    for (dataset, method), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 9))):
        aucs = [r.auc[auc_method] for r in rs if auc_method in r.auc]
        gains = [r.srg[auc_method] for r in rs if auc_method in r.srg]
        curves = [r.curves.accuracy[auc_method] for r in rs
                  if r.curves is not None and auc_method in r.curves.accuracy]
        curve = columns_mean_std(curves) if curves else None
        rows.append(TableRow(
            dataset, method, len(rs), max(r.num_test for r in rs),
            {key: mean_std([float(r.k[key]) for r in rs]) for key in ("min", "median", "max")},
            mean_std([100.0 * r.accuracy for r in rs]),
            mean_std(aucs) if len(aucs) == len(rs) else None, curve,
            mean_std(gains) if len(gains) == len(rs) else None))
    return rows


def plus_minus(mean: float, std: float, runs: int, digits: int = 2, unit: str = "") -> str:
    return f"{mean:.{digits}f}{unit}" if runs == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}{unit}"


def count_label(n: int | None) -> str:
    """10000 -> '10K', as the paper's tables give test-set sizes; '-' when unknown."""
    return "-" if not n else (f"{n / 1000:g}K" if n >= 1000 else str(n))


def markdown_table(rows: list[TableRow]) -> str:
    out = []
    for dataset in dict.fromkeys(r.dataset for r in rows):
        these = [r for r in rows if r.dataset == dataset]
        with_srg = any(r.srg for r in these)
        out.append(f"{dataset} | # Test | Min(K) | Median(K) | Max(K) | Accuracy | AUC | "
                   + ("SRG | " if with_srg else "") + "runs")
        out.append("---|" * (7 + with_srg) + "---")
        for r in these:
            k = " | ".join(plus_minus(*r.k[key], r.runs, 0) for key in ("min", "median", "max"))
            auc = plus_minus(*r.auc, r.runs) if r.auc else "-"
            gain = ((plus_minus(*r.srg, r.runs) if r.srg else "-") + " | ") if with_srg else ""
            out.append(f"{METHODS.get(r.method, r.method)} | {count_label(r.num_test)} | {k} | "
                       f"{plus_minus(*r.accuracy, r.runs, unit='%')} | {auc} | {gain}{r.runs}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def write_csv(rows: list[TableRow], path: str | Path) -> Path:
    path = Path(path)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "method", "runs", "num_test", "k_min_mean", "k_min_std",
                    "k_median_mean", "k_median_std", "k_max_mean", "k_max_std",
                    "accuracy_mean", "accuracy_std", "auc_mean", "auc_std", "srg_mean", "srg_std"])
        for r in rows:
            w.writerow([r.dataset, r.method, r.runs, r.num_test,
                        *(f"{v:.4f}" for key in ("min", "median", "max") for v in r.k[key]),
                        *(f"{v:.4f}" for v in r.accuracy),
                        *((f"{v:.4f}" for v in r.auc) if r.auc else ("", "")),
                        *((f"{v:.4f}" for v in r.srg) if r.srg else ("", ""))])
    return path
