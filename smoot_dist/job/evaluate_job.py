"""Evaluate a finished run: accuracy-drop curves per attribution method, AUCs, plot, MLflow."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..data.loading import load_test_split
from ..files import write_json
from ..plots import plot_drop_curves
from ..run_folder import AUC_JSON, DROP_CURVES_CSV, DROP_CURVES_PNG, EVALUATION_DIR
from ..training.trainer import resolve_device
from ..evaluation.attribution import TITLES
from ..evaluation.drop import accuracy_drop
from ..evaluation.trained_run import TrainedRun
from ..tracking import MlflowRun


# What makes two evaluations the same measurement (their curves are then identical).
PROTOCOL_KEYS = ("num_images", "removal_fill", "orders", "seed", "saliency_target")


def _protocol(result: dict[str, Any]) -> tuple:
    return (tuple(sorted(result.get("accuracy", {}))),
            *(str(result.get(key)) for key in PROTOCOL_KEYS))


def _keep_earlier(out: Path, result: dict[str, Any]) -> None:
    """An earlier evaluation in `out` of another protocol (methods, images, fill, orders, seed,
    target) is moved into `out/earlier-<time>/`, not overwritten; one of the same protocol is
    replaced (it measured the same thing). Either way a line says so."""
    earlier_path = out / AUC_JSON
    if not earlier_path.is_file():
        return
    try:
        earlier = json.loads(earlier_path.read_text())
    except (OSError, ValueError):
        earlier = {}
    if isinstance(earlier, dict) and _protocol(earlier) == _protocol(result):
        print(f"replacing the earlier evaluation in {out} (the same methods, images and fill)",
              flush=True)
        return
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(earlier_path.stat().st_mtime))
    kept = out / f"earlier-{stamp}"
    kept.mkdir(exist_ok=True)
    for name in (DROP_CURVES_CSV, AUC_JSON, DROP_CURVES_PNG):
        if (out / name).exists():
            (out / name).rename(kept / name)
    print(f"the earlier evaluation in {out} measured something else; it is kept in {kept}",
          flush=True)


def evaluate_run(run: TrainedRun, methods: list[str], *, test_subset: int | None = None,
                 batch_size: int = 500, device: str = "auto", seed: int = 0,
                 output_dir: Path | None = None, tracking: bool = True,
                 progress: bool = False, orders: tuple[str, ...] = ("morf",),
                 fill: str = "background", saliency_target: str = "logit", workers: int = 0,
                 use_gpu: bool = False, ray_address: str | None = None,
                 verbose: bool = False) -> dict[str, Any]:
    """`workers` > 0: the images' batches fanned out over that many Ray tasks (one CPU, or one
    GPU with `use_gpu`, each); the curves equal those of this process (workers 0) exactly."""
    data_cfg = replace(run.cfg.data, train_subset=None, test_subset=test_subset)
    splits = load_test_split(data_cfg)
    dev = resolve_device(device)
    where = f"{workers} Ray task(s) ({'GPU' if use_gpu else 'CPU'})" if workers else dev
    print(f"evaluating {run.name} ({run.cfg.method.name}, {splits.spec.title}) on "
          f"{len(splits.test)} test images with {', '.join(TITLES[m] for m in methods)} on {where}",
          flush=True)
    if fill != "background":
        print(f"removed pixels filled by: {fill}", flush=True)
    options = dict(batch_size=batch_size, seed=seed, orders=orders, fill=fill,
                   saliency_target=saliency_target)
    if workers:
        from ..launch.ray_evaluation import accuracy_drop_on_ray

        curves = accuracy_drop_on_ray(replace(run.cfg, data=data_cfg), run.model, methods,
                                      len(splits.test), workers=workers, use_gpu=use_gpu,
                                      ray_address=ray_address, verbose=verbose, **options)
    else:
        curves = accuracy_drop(run.model, splits.test, splits.spec, methods, device=dev,
                               progress=progress, **options)
    out = Path(output_dir) if output_dir else run.folder.evaluation_dir
    result = {"run": run.name, "method": run.cfg.method.name, "dataset": run.cfg.data.dataset,
              "num_images": curves.num_images, "fractions": list(curves.fractions),
              "accuracy": curves.accuracy, "auc": curves.auc, "seed": seed, "removal_fill": fill,
              "saliency_target": saliency_target,
              "orders": list(orders), "workers": workers, "seconds": curves.seconds}
    if curves.lerf:
        result.update(lerf_accuracy=curves.lerf, lerf_auc=curves.lerf_auc, srg=curves.srg)
    _keep_earlier(out, result)
    out.mkdir(parents=True, exist_ok=True)
    files = [curves.write_csv(out / DROP_CURVES_CSV), write_json(out / AUC_JSON, result),
             plot_drop_curves({TITLES[m]: a for m, a in curves.accuracy.items()}, curves.fractions,
                              out / DROP_CURVES_PNG,
                              f"{run.cfg.method.name.upper()} on {splits.spec.title}: accuracy drop")]
    if tracking and run.mlflow_run_id and run.tracking_uri:
        tracker = MlflowRun(run.tracking_uri, run.mlflow_run_id)
        tracker.log_metrics({**{f"auc_{m}": v for m, v in curves.auc.items()},
                             **{f"lerf_auc_{m}": v for m, v in curves.lerf_auc.items()},
                             **{f"srg_{m}": v for m, v in curves.srg.items()}})
        for path in files:
            tracker.log_artifact(path, EVALUATION_DIR)
        result["mlflow_run_id"] = run.mlflow_run_id
    result["output_dir"] = str(out)
    result["table"] = curves.table()
    return result
