"""A whole training job: checks, run folder, MLflow, training (in-process or Ray), results.

`jobs/train.py` is a thin CLI over `run_training`; sweeps and reproductions call it too.
Everything a user can get wrong is checked before any training starts (config, data, model,
tracking store), so a bad input costs seconds and loses nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from .checkpoint import k_digest, mask_table_of
from .config import ExperimentConfig
from .data.loading import Splits, load_splits
from .errors import UserError
from .local_ray import prefer_loopback_ray
from .method.mask_state import write_mask_parquet
from .models import create_model
from .plots import plot_k_histogram
from .runs import RunSpec, TrainingOutcome, locate_run, write_run_record
from .summary import build_summary, write_json
from .tracking import (EXPERIMENT, MlflowRun, check_tracking_uri, resolve_tracking_uri,
                       ui_command)
from .trained import MODEL_FILE


@dataclass
class JobOptions:
    workers: int = 2  # 0: in this process, no Ray
    use_gpu: bool = False
    run_name: str | None = None
    storage_path: str | None = None
    resume: bool = False
    tracking: bool = True
    tracking_uri: str | None = None
    experiment: str = EXPERIMENT
    ray_address: str | None = None
    max_failures: int = 2
    progress: bool = True
    tags: dict[str, str] | None = None
    # Ray only: extra Ray Train callbacks, and a per-epoch objective metric (sweeps).
    ray_callbacks: list | None = None
    objective: str | None = None
    objective_images: int | None = None


def _preflight(cfg: ExperimentConfig) -> Splits:
    """Data present and intact, subset sizes possible, model buildable and able to take the
    dataset's images: fail here, in seconds, not in a worker."""
    splits = load_splits(cfg.data)
    model = create_model(cfg.model, splits.spec).eval()
    spec = splits.spec
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, spec.channels, spec.image_size, spec.image_size))
    except Exception as err:  # shape errors come as RuntimeError, AssertionError, ValueError...
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise UserError(f"model {cfg.model.name} cannot take {spec.title}'s {spec.channels}x"
                        f"{spec.image_size}x{spec.image_size} images ({first}); choose "
                        f"--input-size/--patch-size that fit it") from None
    if tuple(out.shape) != (2, spec.num_classes):
        raise UserError(f"model {cfg.model.name} gives outputs of shape {tuple(out.shape)[1:]}, "
                        f"not {spec.num_classes} class scores; choose another --model")
    return splits


def _open_tracking(cfg: ExperimentConfig, spec: RunSpec, opts: JobOptions) -> MlflowRun | None:
    if not opts.tracking:
        return None
    uri = resolve_tracking_uri(opts.tracking_uri)
    tags = {"dataset": cfg.data.dataset, "method": cfg.method.name, "model": cfg.model.name,
            "smoot.run_name": spec.name, **(opts.tags or {})}
    tracker = MlflowRun.open(uri, spec.name, spec.mlflow_run_id, opts.experiment, tags)
    tracker.log_params({**cfg.flat(), "run.workers": opts.workers, "run.use_gpu": opts.use_gpu})
    return tracker


def _finish(cfg: ExperimentConfig, spec: RunSpec, splits: Splits, outcome: TrainingOutcome,
            tracker: MlflowRun | None, wall_time_s: float) -> dict[str, Any]:
    folder = spec.folder
    summary = build_summary(
        cfg, outcome.history, num_train=len(splits.train), num_test=len(splits.test),
        num_pixels=splits.spec.num_pixels, workers=outcome.workers, device=outcome.device,
        wall_time_s=wall_time_s, run_name=spec.name, run_dir=str(folder), resumes=outcome.resumes,
        k_sha256=k_digest(outcome.k_global) if outcome.k_global is not None else None,
        mlflow={"tracking_uri": tracker.uri, "run_id": tracker.run_id} if tracker else None)
    torch.save(outcome.model_state, folder / MODEL_FILE)
    artifacts = [write_json(folder / "summary.json", summary), folder / "config.yaml",
                 folder / MODEL_FILE]
    if outcome.k_global is not None:
        k = outcome.k_global
        mask_path = folder / "mask_state.parquet"
        write_mask_parquet(mask_path, mask_table_of(k))
        title = f"{cfg.method.name.upper()} on {splits.spec.title}, after epoch {len(outcome.history)}"
        artifacts += [mask_path, plot_k_histogram(k, splits.spec.num_pixels, cfg.method.k_min,
                                                  cfg.method.k_max, folder / "k_histogram.png", title)]
    if tracker is not None:
        tracker.log_missing_epochs(outcome.history)
        for path in artifacts:
            tracker.log_artifact(path)
        tracker.finish("FINISHED")
    return summary


def run_training(cfg: ExperimentConfig, opts: JobOptions) -> dict[str, Any]:
    """Train one run end to end and return its summary (also written to the run folder)."""
    start = time.perf_counter()
    if opts.workers < 0:
        raise UserError(f"--workers must be >= 0, got {opts.workers}")
    if opts.use_gpu and opts.workers == 0:
        raise UserError("--use-gpu is for Ray workers; with --workers 0 use --device cuda")
    if opts.max_failures < 0:
        raise UserError(f"--max-failures must be >= 0, got {opts.max_failures}")
    if opts.tracking:
        check_tracking_uri(resolve_tracking_uri(opts.tracking_uri))
    spec = locate_run(cfg, opts.run_name, opts.storage_path, opts.resume)
    splits = _preflight(cfg)
    if opts.workers > 0:
        prefer_loopback_ray(opts.ray_address)
        from .ray_train import connect  # Ray is imported here first (after prefer_loopback_ray)

        print(f"Ray: {connect(opts.ray_address)}", flush=True)
    # Everything checked: from here on the run exists (folder, MLflow run).
    tracker = _open_tracking(cfg, spec, opts)
    write_run_record(spec, cfg, mlflow_run_id=tracker.run_id if tracker else None,
                     tracking_uri=tracker.uri if tracker else None)
    print(f"run {spec.name}: {spec.folder}" + (" (resuming)" if spec.resumed else ""), flush=True)
    if tracker is not None:
        print(f"MLflow run {tracker.run_id} in {tracker.uri}\n  open the UI: {ui_command(tracker.uri)}",
              flush=True)
    try:
        if opts.workers == 0:
            from .local_run import run_in_process

            outcome = run_in_process(cfg, spec, tracker, splits=splits, progress=opts.progress)
        else:
            from .ray_train import run_with_ray

            outcome = run_with_ray(cfg, spec, tracker, workers=opts.workers, use_gpu=opts.use_gpu,
                                   max_failures=opts.max_failures, address=opts.ray_address,
                                   callbacks=opts.ray_callbacks, objective=opts.objective,
                                   objective_images=opts.objective_images)
    except BaseException:
        if tracker is not None:
            tracker.finish("FAILED")
        raise
    return _finish(cfg, spec, splits, outcome, tracker, time.perf_counter() - start)


def where_to_look(summary: dict[str, Any]) -> str:
    lines = [f"run folder: {summary['run_dir']}"]
    ml = summary.get("mlflow")
    if ml:
        lines.append(f"MLflow: run {ml['run_id']} in {ml['tracking_uri']}")
        lines.append(f"  open the UI: {ui_command(ml['tracking_uri'])}")
    return "\n".join(lines)
