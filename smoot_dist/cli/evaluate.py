"""Evaluate a trained run: accuracy-drop curves and the evaluation battery, for each attribution
method, as one record named by the evaluation's protocol.

--metrics below lists every metric the registry declares (smoot_dist/metrics/); docs/evaluation.md
says what each measures and which direction is better.

  python jobs/evaluate.py ~/smoot_dist/runs/fashion_mnist-smoot-20261128-070056
  python jobs/evaluate.py RUN --metrics morf,lerf,mprt,localisation --methods grad,random
  python jobs/evaluate.py RUN --metrics all --methods grad,integrated_gradients,random --test-subset 2000
  python jobs/evaluate.py RUN --removal-fill road --metrics morf,lerf
  python jobs/evaluate.py RUN --workers 4 --use-gpu     # the batches fanned out over Ray tasks
  python jobs/evaluate.py imagefolder-run --metrics localisation --masks ~/data/masks
  python jobs/evaluate.py 3f8a825d35a64fc786e3f323e6934f05 --tracking-uri http://mlflow:5000
  python jobs/evaluate.py RUN --storage-path s3://bucket/runs   # a run on object storage: its record goes there

Writes <run folder>/evaluation/<protocol id>/ (metrics.json, metrics.csv, drop_curves.csv and
.png, mprt.png); the id names the images, fill and seed, and a digest of the whole protocol, so
an evaluation of other settings never replaces this one. Logs the numbers to the run's MLflow
run as <protocol id>/<metric>_<method> (e.g. .../auc_grad, .../relevance_mass_grad,
.../pgd_accuracy) and the files under evaluation/<protocol id>/.
"""

from __future__ import annotations

from .flags import JobFlags, command
from ..config import JobConfig
from ..foundations.catalog import decoy_source
from ..foundations.errors import ConfigError
from ..foundations.progress import progress_mode

FLAGS = JobFlags("evaluate.py", __doc__,
                 ("evaluate", ("data", "test_subset"), ("train", "device"),
                  ("tracking", "uri", "enabled"),
                  ("run", "progress", "use_gpu", "ray_address", "verbose", "storage_path")))


def battery_options(e):
    from ..evaluation.battery import BatteryOptions

    return BatteryOptions(e.sensitivity_radius, e.sensitivity_samples, e.infidelity_std,
                          e.infidelity_samples, e.pgd_eps, e.pgd_steps)


def evaluate(cfg: JobConfig) -> int:
    from ..attribution import parse_methods
    from ..evaluation.protocol import parse_metrics  # the metric registry: torch
    from ..workflows.evaluate import evaluate_run, last_metrics
    from ..evaluation.trained_run import load_trained

    e = cfg.evaluate
    methods = parse_methods(e.methods)
    if e.metrics is not None:
        parse_metrics(e.metrics)  # a wrong name: one line before the run is loaded
    run = load_trained(e.run, cfg.tracking.uri, cfg.run.storage_path)
    decoy = decoy_source(run.cfg.data.dataset) is not None
    metrics = parse_metrics(e.metrics, decoy=decoy) if e.metrics is not None else None
    if metrics is None:
        metrics = last_metrics(run)
        print(f"metrics: {', '.join(metrics)} (the run's last evaluation's, else the default; "
              f"--metrics chooses)", flush=True)
    if e.masks and "localisation" not in metrics:
        raise ConfigError("--masks is for the localisation metric; add localisation to --metrics")
    result = evaluate_run(run, methods, metrics=metrics, test_subset=cfg.data.test_subset,
                          batch_size=e.batch_size, device=cfg.train.device, seed=e.seed,
                          output_dir=e.output_dir, tracking=cfg.tracking.enabled,
                          progress=progress_mode(cfg.run.progress, cfg.run.progress_lines),
                          fill=e.removal_fill,
                          saliency_target=e.saliency_target, workers=e.workers,
                          use_gpu=cfg.run.use_gpu, ray_address=cfg.run.ray_address,
                          verbose=cfg.run.verbose, options=battery_options(e), masks_dir=e.masks)
    record = result["record"]
    if record.curves is not None:
        print(f"\naccuracy (%) with 0%, 10%, ..., 90% of the pixels removed ({e.removal_fill} "
              f"fill); MoRF AUC: lower is better, LeRF AUC and SRG: higher is better")
    print(f"\n{record.protocol.short()} (protocol {record.id})")
    print(result["table"])
    print(f"\nfiles: {result['output_dir']}"
          + (f"\nlogged to MLflow run {result['mlflow_run_id']}" if result.get("mlflow_run_id") else ""))
    return 0


main = command(FLAGS, evaluate)
