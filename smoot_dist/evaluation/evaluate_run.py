"""Evaluate a finished run: accuracy-drop curves per attribution method, AUCs, plot, MLflow."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ..data.loading import load_test_split
from ..files import write_json
from ..plots import plot_drop_curves
from ..run_folder import AUC_JSON, DROP_CURVES_CSV, DROP_CURVES_PNG, EVALUATION_DIR
from ..training.trainer import resolve_device
from .attribution import TITLES
from .drop import accuracy_drop
from .trained_run import TrainedRun


def evaluate_run(run: TrainedRun, methods: list[str], *, test_subset: int | None = None,
                 batch_size: int = 500, device: str = "auto", seed: int = 0,
                 output_dir: Path | None = None, tracking: bool = True,
                 progress: bool = False) -> dict[str, Any]:
    splits = load_test_split(replace(run.cfg.data, train_subset=None, test_subset=test_subset))
    dev = resolve_device(device)
    print(f"evaluating {run.name} ({run.cfg.method.name}, {splits.spec.title}) on "
          f"{len(splits.test)} test images with {', '.join(TITLES[m] for m in methods)} on {dev}",
          flush=True)
    curves = accuracy_drop(run.model, splits.test, splits.spec, methods, device=dev,
                           batch_size=batch_size, seed=seed, progress=progress)
    out = Path(output_dir) if output_dir else run.folder.evaluation_dir
    result = {"run": run.name, "method": run.cfg.method.name, "dataset": run.cfg.data.dataset,
              "num_images": curves.num_images, "fractions": list(curves.fractions),
              "accuracy": curves.accuracy, "auc": curves.auc, "seed": seed}
    out.mkdir(parents=True, exist_ok=True)
    files = [curves.write_csv(out / DROP_CURVES_CSV), write_json(out / AUC_JSON, result),
             plot_drop_curves({TITLES[m]: a for m, a in curves.accuracy.items()}, curves.fractions,
                              out / DROP_CURVES_PNG,
                              f"{run.cfg.method.name.upper()} on {splits.spec.title}: accuracy drop")]
    if tracking and run.mlflow_run_id and run.tracking_uri:
        from ..tracking import MlflowRun

        tracker = MlflowRun(run.tracking_uri, run.mlflow_run_id)
        tracker.log_metrics({f"auc_{m}": v for m, v in curves.auc.items()})
        for path in files:
            tracker.log_artifact(path, EVALUATION_DIR)
        result["mlflow_run_id"] = run.mlflow_run_id
    result["output_dir"] = str(out)
    return result
