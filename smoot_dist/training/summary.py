"""The run summary (a dict, written as the run folder's summary.json) and the paper-style row."""

from __future__ import annotations

from typing import Any

from ..config import METHODS, JobConfig

K_SUMMARY_KEYS = ("min", "median", "max", "mean_fraction")


def build_summary(cfg: JobConfig, history: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """`method`, `dataset`, final `test_accuracy` (fraction) and `k`, and one object per epoch."""
    last = history[-1]
    return {
        "method": cfg.method.name,
        "dataset": cfg.data.dataset,
        "model": cfg.model.name,
        "test_accuracy": last["test_accuracy"],
        **({"val_accuracy": last["val_accuracy"]} if "val_accuracy" in last else {}),
        "k": {key: last["k"][key] for key in K_SUMMARY_KEYS},
        # MoRF AUC (background fill) of the run's final evaluation (workflows/final_evaluation.py)
        "auc": {key[4:]: last[key] for key in ("auc_grad", "auc_random") if key in last},
        "epochs": history,
        **extra,
        "config": cfg.to_dict(),
    }


def paper_row(summary: dict[str, Any]) -> str:
    """`Method | #Test | Min(K) | Median(K) | Max(K) | Accuracy | AUC`, as in the paper's tables
    (AUC: Grad's MoRF AUC from the run's final evaluation, lower is better)."""
    k = summary["k"]
    n_test = summary.get("num_test")
    n_test_s = f"{n_test / 1000:g}K" if n_test and n_test >= 1000 else str(n_test or "-")
    header = "Method | #Test | Min(K) | Median(K) | Max(K) | Accuracy | AUC"
    grad = summary.get("auc", {}).get("grad")
    row = (f"{METHODS.get(summary['method'], summary['method'])} | {n_test_s} | "
           f"{k['min']} | {k['median']:g} | {k['max']} | {100 * summary['test_accuracy']:.2f}% | "
           + (f"{grad:.2f}" if grad is not None else "-"))
    return f"{header}\n{row}"
