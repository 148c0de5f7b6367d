"""One evaluation, one record: `<run>/evaluation/<protocol id>/` holds everything it measured.

    metrics.json      the protocol, who measured it (run, time, workers) and every number:
                      metric -> attribution method -> value (MPRT's per-step curves as lists;
                      the method-free object_share and pgd_accuracy as plain numbers)
    metrics.csv       the same numbers, one row each (metric, method, step, value)
    drop_curves.csv   the accuracy-drop curves (MoRF, and LeRF where measured)
    drop_curves.png, mprt.png    their plots

The record is written beside its final place and swapped in whole: an interrupted evaluation
leaves the earlier record of its protocol as it was, and no evaluation touches another
protocol's. Runs evaluated before records existed have `evaluation/auc.json` (and
`evaluation/earlier-<time>/auc.json`); they are read as records of the protocol they state.
The training run's closing evaluation has a record too, written at the end of training (older
runs: read from their summary.json).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..foundations.files import fsync, write_json
from ..metrics.faithfulness.drop import DropCurves
from ..metrics import columns, curve_keys, drop_metrics, method_free_keys
from .protocol import Protocol, closing_protocol

RECORD_FILE, METRICS_CSV = "metrics.json", "metrics.csv"
DROP_CURVES_CSV, DROP_CURVES_PNG, MPRT_PNG = "drop_curves.csv", "drop_curves.png", "mprt.png"
LEGACY_FILE = "auc.json"  # a record from before protocol ids
RECORD_VERSION = 1
# Which numbers are method-free (one value per evaluation) and which are curves (one value per
# step) is the metric registry's (metrics/registry.py: each metric's columns).
Values = dict[str, Any]  # metric -> method -> value, or metric -> value (method-free columns)


@dataclass
class EvaluationRecord:
    protocol: Protocol
    metrics: Values
    curves: DropCurves | None = None
    about: dict[str, Any] = field(default_factory=dict)  # run, method, dataset, written, ...
    folder: Path | None = None  # where it was read from

    @property
    def id(self) -> str:
        return self.protocol.id

    def value(self, metric: str, method: str | None = None) -> Any:
        """One number (None where not measured)."""
        values = self.metrics.get(metric)
        if method is None or not isinstance(values, dict):
            return None if isinstance(values, dict) else values
        return values.get(method)

    def flat(self) -> dict[str, float]:
        """Every scalar as `<metric>_<method>` (`<metric>` for the method-free ones): the
        names of its MLflow metrics (before the protocol's prefix)."""
        out, curves = {}, curve_keys()
        for metric, values in self.metrics.items():
            if metric in curves:
                continue
            if isinstance(values, dict):
                out.update({f"{metric}_{m}": float(v) for m, v in values.items()})
            else:
                out[metric] = float(values)
        return out

    def to_json(self) -> dict[str, Any]:
        d = {"version": RECORD_VERSION, "protocol_id": self.id,
             "protocol": self.protocol.to_dict(), "protocol_text": self.protocol.describe(),
             **self.about, "num_images": self.protocol.images, "metrics": self.metrics}
        if self.curves is not None:
            d.update(fractions=list(self.curves.fractions), accuracy=self.curves.accuracy,
                     lerf_accuracy=self.curves.lerf)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any], folder: Path | None = None) -> "EvaluationRecord":
        curves = None
        if d.get("accuracy") or d.get("lerf_accuracy"):
            curves = DropCurves(tuple(d["fractions"]), dict(d.get("accuracy") or {}),
                                d["protocol"]["images"], lerf=dict(d.get("lerf_accuracy") or {}),
                                fill=d["protocol"].get("fill", "background"))
        about = {k: v for k, v in d.items() if k not in (
            "version", "protocol_id", "protocol", "protocol_text", "num_images", "metrics",
            "fractions", "accuracy", "lerf_accuracy")}
        metrics = d.get("metrics") or {}
        where = _non_finite(metrics) or _non_finite({"accuracy": d.get("accuracy") or {},
                                                     "lerf_accuracy": d.get("lerf_accuracy") or {}})
        if where:  # a number no evaluation writes: never averaged into a table
            raise ValueError(f"a non-finite value at {where}")
        return cls(Protocol.from_dict(d["protocol"]), metrics, curves, about, folder)


def _non_finite(values: Any, at: str = "") -> str | None:
    """Where `values` (nested dicts and lists of numbers) holds NaN or an infinity."""
    if isinstance(values, dict):
        items = values.items()
    elif isinstance(values, (list, tuple)):
        items = enumerate(values)
    else:
        return at if isinstance(values, float) and not math.isfinite(values) else None
    for key, value in items:
        found = _non_finite(value, f"{at}.{key}" if at else str(key))
        if found:
            return found
    return None


def metrics_of(curves: DropCurves | None, battery: dict[str, Any], methods: list[str]) -> Values:
    """The record's numbers from the drop curves and the battery's means (battery.means:
    `<key>_<method>` names), as metric -> method -> value. A column declared as the last value
    of a curve (MPRT's scalar `mprt`: the Spearman correlation once every layer is randomised)
    is taken from that curve."""
    values: Values = {}
    if curves is not None:
        for metric, per_method in (("auc", curves.auc), ("lerf_auc", curves.lerf_auc),
                                   ("srg", curves.srg)):
            if per_method:
                values[metric] = dict(per_method)
    by_length = sorted(methods, key=len, reverse=True)  # deeplift_shap before deeplift
    method_free = method_free_keys()
    for key, value in battery.items():
        if key in method_free:
            values[key] = value
            continue
        method = next(m for m in by_length if key.endswith(f"_{m}"))
        values.setdefault(key[:-len(method) - 1], {})[method] = value
    for _, column in columns():
        if column.last_of in values:
            values[column.key] = {m: curve[-1] for m, curve in values[column.last_of].items()}
    return values


def _write_metrics_csv(record: EvaluationRecord, path: Path) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["metric", "method", "step", "value"])
        for metric, values in record.metrics.items():
            if not isinstance(values, dict):
                w.writerow([metric, "", "", f"{values:.6g}"])
                continue
            for method, value in values.items():
                if isinstance(value, list):
                    w.writerows([metric, method, step, f"{v:.6g}"] for step, v in enumerate(value))
                else:
                    w.writerow([metric, method, "", f"{value:.6g}"])
    return path


def write_record(root: Path, record: EvaluationRecord, plots: dict[str, Any]) -> Path:
    """`root/<protocol id>/` with the record's files; `plots`: file name -> function(path)
    drawing it. Written as `<id>.partial-<pid>` beside it and renamed into place; an earlier
    record of the same protocol is replaced only then (it measured the same thing)."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / record.id
    partial = root / f"{record.id}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        write_json(partial / RECORD_FILE, record.to_json())
        _write_metrics_csv(record, partial / METRICS_CSV)
        if record.curves is not None:
            record.curves.write_csv(partial / DROP_CURVES_CSV)
        for name, draw in plots.items():
            draw(partial / name)
        if final.exists():
            old = root / f"{record.id}.replaced-{os.getpid()}"
            final.rename(old)
            partial.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    fsync(root)
    return final


def _legacy(path: Path) -> EvaluationRecord | None:
    """An `auc.json` written before records had protocol ids."""
    try:
        d = json.loads(path.read_text())
        orders = tuple(d.get("orders") or ("morf",))
        protocol = Protocol(tuple(o for o in drop_metrics() if o in orders),
                            tuple(d["accuracy"]), int(d["num_images"]),
                            d.get("removal_fill", "background"),
                            d.get("saliency_target", "logit"), int(d.get("seed", 0)))
        curves = DropCurves(tuple(d["fractions"]), d["accuracy"], protocol.images,
                            lerf=d.get("lerf_accuracy") or {}, fill=protocol.fill)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    about = {"run": d.get("run"), "written": time.strftime(
        "%Y-%m-%d %H:%M:%S", time.localtime(path.stat().st_mtime)), "seconds": d.get("seconds")}
    return EvaluationRecord(protocol, metrics_of(curves, {}, list(curves.accuracy)), curves,
                            about, path.parent)


def read_records(evaluation_dir: Path, damaged: list[str] | None = None
                 ) -> list[EvaluationRecord]:
    """Every evaluation recorded in a run's evaluation folder, oldest first. A damaged record
    (truncated, not a record, a non-finite number) is no record: it stays where it is, never
    deleted, and `damaged` gets a line naming it and what is wrong."""
    records = []
    if evaluation_dir.is_dir():
        for path in sorted(evaluation_dir.glob(f"*/{RECORD_FILE}")):
            if ".partial-" in path.parent.name or ".replaced-" in path.parent.name:
                continue
            try:
                records.append(EvaluationRecord.from_json(json.loads(path.read_text()),
                                                          path.parent))
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
                why = "not valid JSON" if isinstance(err, json.JSONDecodeError) else (
                    str(err) if isinstance(err, ValueError) and "non-finite" in str(err)
                    else f"not a record: {type(err).__name__}")
                if damaged is not None:
                    damaged.append(f"{path} is damaged ({why}); it is left as it is and not used")
        for path in [evaluation_dir / LEGACY_FILE, *evaluation_dir.glob(f"earlier-*/{LEGACY_FILE}")]:
            legacy = _legacy(path) if path.is_file() else None
            if legacy is not None and legacy.id not in {r.id for r in records}:
                records.append(legacy)
    return sorted(records, key=lambda r: str(r.about.get("written", "")))


def closing_record(summary: dict[str, Any]) -> EvaluationRecord | None:
    """The closing evaluation of a finished run, as its summary states it."""
    auc = summary.get("auc") or {}
    last = (summary.get("epochs") or [{}])[-1]
    images = last.get("auc_images")
    if not auc or not images:
        return None
    protocol = closing_protocol(int(images), int(summary.get("workers") or 0))
    return EvaluationRecord(protocol, {"auc": dict(auc)}, None,
                            {"run": summary.get("run_name"), "written": summary.get("finished", "")})


def run_records(evaluation_dir: Path, summary: dict[str, Any] | None,
                damaged: list[str] | None = None) -> list[EvaluationRecord]:
    """The run's records, its closing one included (from the summary where no file has it);
    `damaged`: as read_records."""
    records = read_records(evaluation_dir, damaged)
    closing = closing_record(summary) if summary else None
    if closing is not None and closing.id not in {r.id for r in records}:
        records.insert(0, closing)
    return records
