"""A whole training job: checks, run folder, MLflow, training (in-process or Ray), results.

`jobs/train.py` is a thin command over `run_training`; sweeps and reproductions call it too.
Everything a user can get wrong is checked before any training starts (config, data, model,
tracking store, Ray address), so a bad input costs seconds and loses nothing.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import torch

from ..config import JobConfig
from ..data.loading import Splits
from ..files import write_json
from ..method.mask_state import write_mask_parquet
from ..plots import plot_k_histogram
from ..run_folder import RunSpec, locate_run, write_run_record
from ..tracking import MlflowRun, check_tracking_uri, resolve_tracking_uri, ui_command
from .checkpoint import k_digest, mask_table_of
from .outcome import TrainingOutcome
from .preflight import check_data_and_model
from .summary import build_summary
from .trainer import EpochHook


def _open_tracking(cfg: JobConfig, spec: RunSpec, tags: dict[str, str] | None) -> MlflowRun | None:
    if not cfg.tracking.enabled:
        return None
    uri = resolve_tracking_uri(cfg.tracking.uri)
    tags = {"dataset": cfg.data.dataset, "method": cfg.method.name, "model": cfg.model.name,
            "smoot.run_name": spec.name, **(tags or {})}
    tracker = MlflowRun.open(uri, spec.name, spec.mlflow_run_id, cfg.tracking.experiment, tags)
    tracker.log_params({**cfg.flat(), "run.workers": cfg.run.workers, "run.use_gpu": cfg.run.use_gpu})
    return tracker


def _finish(cfg: JobConfig, spec: RunSpec, splits: Splits, outcome: TrainingOutcome,
            tracker: MlflowRun | None, wall_time_s: float) -> dict[str, Any]:
    folder = spec.folder
    summary = build_summary(
        cfg, outcome.history, num_train=len(splits.train), num_test=len(splits.test),
        num_pixels=splits.spec.num_pixels, workers=outcome.workers, device=outcome.device,
        wall_time_s=wall_time_s, run_name=spec.name, run_dir=str(folder.path),
        resumes=outcome.resumes,
        k_sha256=k_digest(outcome.k_global) if outcome.k_global is not None else None,
        mlflow={"tracking_uri": tracker.uri, "run_id": tracker.run_id} if tracker else None)
    torch.save(outcome.model_state, folder.model_path)
    artifacts = [write_json(folder.summary_path, summary), folder.config_path, folder.model_path]
    if outcome.k_global is not None:
        k = outcome.k_global
        write_mask_parquet(folder.mask_state_path, mask_table_of(k))
        title = f"{cfg.method.name.upper()} on {splits.spec.title}, after epoch {len(outcome.history)}"
        artifacts += [folder.mask_state_path,
                      plot_k_histogram(k, splits.spec.num_pixels, cfg.method.k_min, cfg.method.k_max,
                                       folder.k_histogram_path, title)]
    if tracker is not None:
        tracker.log_missing_epochs(outcome.history)
        for path in artifacts:
            tracker.log_artifact(path)
        tracker.finish("FINISHED")
    return summary


def run_training(cfg: JobConfig, *, tags: dict[str, str] | None = None,
                 epoch_hooks: Sequence[EpochHook] = (), ray_callbacks: Sequence = ()
                 ) -> dict[str, Any]:
    """Train one run end to end and return its summary (also written to the run folder).

    `tags` go on the MLflow run; `epoch_hooks` run on every rank after each epoch (a sweep's
    objective); `ray_callbacks` are extra Ray Train callbacks (Tune's report forwarding)."""
    start = time.perf_counter()
    if cfg.tracking.enabled:
        check_tracking_uri(resolve_tracking_uri(cfg.tracking.uri))
    spec = locate_run(cfg)
    splits = check_data_and_model(cfg)
    if cfg.run.workers > 0:
        from ..launch.ray_cluster import connect

        print(f"Ray: {connect(cfg.run.ray_address)}", flush=True)
    # Everything checked: from here on the run exists (folder, MLflow run).
    tracker = _open_tracking(cfg, spec, tags)
    write_run_record(spec, cfg, mlflow_run_id=tracker.run_id if tracker else None,
                     tracking_uri=tracker.uri if tracker else None)
    print(f"run {spec.name}: {spec.folder.path}" + (" (resuming)" if spec.resumed else ""),
          flush=True)
    if tracker is not None:
        print(f"MLflow run {tracker.run_id} in {tracker.uri}\n  open the UI: {ui_command(tracker.uri)}",
              flush=True)
    try:
        if cfg.run.workers == 0:
            from .in_process import run_in_process

            outcome = run_in_process(cfg, spec, tracker, splits=splits, epoch_hooks=epoch_hooks)
        else:
            from ..launch.ray_train import run_with_ray

            outcome = run_with_ray(cfg, spec, tracker, epoch_hooks=epoch_hooks,
                                   callbacks=ray_callbacks)
    except BaseException:
        if tracker is not None:
            tracker.finish("FAILED")
        raise
    return _finish(cfg, spec, splits, outcome, tracker, time.perf_counter() - start)
