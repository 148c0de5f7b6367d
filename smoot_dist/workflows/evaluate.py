"""Evaluate a finished run: the drop curves and the battery, for each attribution method, as one
record named by its protocol (evaluation/record.py), with plots, in MLflow under keys that carry
the protocol."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..data.loading import load_test_split
from ..data.object_masks import read_object_masks
from ..plots.curves import plot_drop_curves, plot_mprt
from ..foundations.progress import Progress
from ..runs.folder import EVALUATION_DIR
from ..training.trainer import resolve_device
from ..attribution import title as method_title
from ..foundations.errors import ConfigError
from ..metrics import columns as registered_columns, curve_keys, decoy_metrics
from ..metrics.model_robustness import default_eps
from ..evaluation.battery import BatteryOptions
from ..evaluation.measure import measure
from ..reports.comparison import arrow, headed
from ..evaluation.protocol import DEFAULT_METRICS, make_protocol
from ..evaluation.record import (DROP_CURVES_PNG, MPRT_PNG, EvaluationRecord, metrics_of,
                                 read_records, write_record)
from ..metrics.randomisation.sanity import randomisation_order
from ..evaluation.trained_run import TrainedRun
from ..runs.tracking import MlflowRun


def last_metrics(run: TrainedRun) -> tuple[str, ...]:
    """What the run's last evaluation (by jobs/evaluate.py) measured, else morf and lerf."""
    earlier = [r for r in read_records(run.folder.evaluation_dir) if not r.protocol.closing]
    return earlier[-1].protocol.metrics if earlier else DEFAULT_METRICS


def _plots(run: TrainedRun, record: EvaluationRecord, title: str) -> dict[str, Any]:
    plots: dict[str, Any] = {}
    name = run.cfg.method.name.upper()
    caption = record.protocol.short()
    if record.curves is not None and record.curves.accuracy:
        curves = record.curves
        aucs = {method_title(m): v for m, v in record.metrics.get("auc", {}).items()}
        plots[DROP_CURVES_PNG] = lambda path: plot_drop_curves(
            {method_title(m): a for m, a in curves.accuracy.items()}, curves.fractions, path,
            f"{name} on {title}: accuracy drop (MoRF)\n{caption}",
            chance=100.0 / run.spec.num_classes, aucs=aucs)
    if "mprt_spearman" in record.metrics:
        layers = randomisation_order(run.model)
        plots[MPRT_PNG] = lambda path: plot_mprt(
            {method_title(m): c for m, c in record.metrics["mprt_spearman"].items()},
            {method_title(m): c for m, c in record.metrics["mprt_ssim"].items()}, layers, path,
            f"{name} on {title}: model-parameter randomisation\n{caption}")
    return plots


def evaluate_run(run: TrainedRun, methods: list[str], *,
                 metrics: tuple[str, ...] = DEFAULT_METRICS, test_subset: int | None = None,
                 batch_size: int = 500, device: str = "auto", seed: int = 0,
                 output_dir: Path | None = None, tracking: bool = True, progress: Progress = None,
                 fill: str = "background", saliency_target: str = "logit", workers: int = 0,
                 use_gpu: bool = False, ray_address: str | None = None, verbose: bool = False,
                 options: BatteryOptions = BatteryOptions(), masks_dir: str | None = None
                 ) -> dict[str, Any]:
    """`workers` > 0: the images' batches fanned out over that many Ray tasks (one CPU, or one
    GPU with `use_gpu`, each); the numbers equal those of this process (workers 0) exactly."""
    data_cfg = replace(run.cfg.data, train_subset=None, test_subset=test_subset)
    splits = load_test_split(data_cfg)
    masks = (read_object_masks(data_cfg, masks_dir, splits.spec.image_size,
                               splits.test_source_index) if masks_dir else None)
    if splits.test.decoy is None and (wanted := [m for m in metrics if m in decoy_metrics()]):
        raise ConfigError(f"{', '.join(wanted)} measure(s) a decoy dataset (decoy_mnist, "
                          f"decoy:DATASET); {run.name} was trained on {run.cfg.data.dataset}")
    if options.pgd_eps is None:  # the protocol states the radius it used
        options = replace(options, pgd_eps=default_eps(splits.spec.channels))
    protocol = make_protocol(metrics, methods, len(splits.test), fill=fill,
                             saliency_target=saliency_target, seed=seed, options=options,
                             batch_size=batch_size)
    dev = resolve_device(device)
    where = f"{workers} Ray task(s) ({'GPU' if use_gpu else 'CPU'})" if workers else dev
    print(f"evaluating {run.name} ({run.cfg.method.name}, {splits.spec.title}) on "
          f"{len(splits.test)} test images: {', '.join(protocol.metrics)} for "
          f"{', '.join(method_title(m) for m in methods)} on {where}", flush=True)
    print(f"protocol {protocol.id}: {protocol.describe()}", flush=True)
    measured = dict(batch_size=batch_size, seed=seed, fill=fill, saliency_target=saliency_target,
                    options=options, progress=progress)
    tick = time.perf_counter()
    batches = -(-len(splits.test) // batch_size)
    if workers > batches:  # the tasks are dealt whole batches
        print(f"note: {len(splits.test)} images make {batches} batch(es) of --batch-size "
              f"{batch_size}, so only {batches} of the {workers} Ray tasks get work; give "
              f"--batch-size {max(1, -(-len(splits.test) // workers))} to use all of them "
              f"(another batch size is another protocol)", flush=True)
    if workers:
        from ..launch.ray_evaluation import measure_on_ray

        measurement = measure_on_ray(replace(run.cfg, data=data_cfg), run.model, methods,
                                     protocol.metrics, len(splits.test), workers=workers,
                                     use_gpu=use_gpu, ray_address=ray_address, verbose=verbose,
                                     masks=masks, **measured)
    else:
        measurement = measure(run.model, splits.test, splits.spec, methods, protocol.metrics,
                              device=dev, masks=masks, **measured)
    curves, battery = measurement.results(len(splits.test), fill)
    record = EvaluationRecord(
        protocol, metrics_of(curves, battery, methods), curves,
        {"run": run.name, "method": run.cfg.method.name, "dataset": run.cfg.data.dataset,
         "written": time.strftime("%Y-%m-%d %H:%M:%S"), "workers": workers,
         "seconds": round(time.perf_counter() - tick, 3),
         "masks": str(masks_dir) if masks_dir else None})
    root = Path(output_dir) if output_dir else run.folder.evaluation_dir
    replacing = (root / protocol.id).exists()
    out = write_record(root, record, _plots(run, record, splits.spec.title))
    if replacing:
        print(f"replaced the earlier evaluation of the same protocol in {out}", flush=True)
    if not output_dir:  # the run's own record: where the run lives
        run.publish(out)
    result: dict[str, Any] = {"record": record, "output_dir": str(out)}
    if tracking and run.mlflow_run_id and run.tracking_uri:
        tracker = MlflowRun(run.tracking_uri, run.mlflow_run_id)
        log_record(tracker, record, out)
        result["mlflow_run_id"] = run.mlflow_run_id
    result["table"] = table(record)
    return result


def log_record(tracker: MlflowRun, record: EvaluationRecord, folder: Path) -> None:
    """The record's numbers as `<protocol id>/<metric>_<method>` (MPRT's curves by step: the
    number of layers randomised), the protocol in words as a tag, its files under
    `evaluation/<protocol id>/`."""
    p = record.protocol
    # The same protocol evaluated again logs nothing twice: a value already there (its latest,
    # a curve's last step) is left alone; only a value that changed is logged again.
    logged = tracker.client.get_run(tracker.run_id).data.metrics
    tracker.log_metrics({p.key(k): v for k, v in record.flat().items()
                         if logged.get(p.key(k)) != float(v)})
    curves = {p.key(f"{curve}_{method}"): values for curve in curve_keys()
              for method, values in (record.metrics.get(curve) or {}).items()
              if values and logged.get(p.key(f"{curve}_{method}")) != float(values[-1])}
    for step in range(max(map(len, curves.values()), default=0)):
        tracker.log_metrics({k: v[step] for k, v in curves.items() if step < len(v)}, step=step)
    tracker.set_tags({f"smoot.evaluation.{p.id}": p.describe()[:5000]})
    for path in sorted(folder.iterdir()):
        tracker.log_artifact(path, f"{EVALUATION_DIR}/{p.id}")


def table(record: EvaluationRecord) -> str:
    """The drop curves' table (where measured), then one row per attribution method with each
    battery metric (its direction in the header)."""
    parts = []
    if record.curves is not None:
        parts.append(record.curves.table())
    methods = record.protocol.methods
    # the battery's per-method numbers (not its curves), in the registry's order
    columns = [c.key for _, c in registered_columns()
               if c.per_method and not c.curve and c.key in record.metrics]
    if columns:
        head = "method | " + " | ".join(headed(c, c) for c in columns)
        rows = [head] + [f"{method_title(m)} | " + " | ".join(
            f"{record.metrics[c][m]:.4g}" if m in record.metrics[c] else "-" for c in columns)
            for m in methods]
        parts.append("\n".join(rows))
    model_wide = [c for _, c in registered_columns() if not c.per_method and c.key in record.metrics]
    if model_wide:
        shares = [c.key for c in model_wide if c.percent]
        parts.append("; ".join(f"{c.key} {arrow(c.key)} {record.metrics[c.key]:.4f}".replace("  ", " ")
                               for c in model_wide)
                     + (f"  ({', '.join(shares)}: shares, in tables as percentages)" if shares else ""))
    return "\n\n".join(parts)
