"""A whole training job: checks, run folder, MLflow, training (in-process or Ray), results.

`jobs/train.py` is a thin command over `run_training`; sweeps and reproductions call it too.
Everything a user can get wrong is checked before anything is created (config, data, model,
device, output paths, the checkpoint to continue from, tracking store, Ray address and
resources), so a bad input costs seconds and loses nothing. The run folder is then held by this
job for its life, and its MLflow run ends FINISHED or FAILED, never left RUNNING.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Sequence

import torch

from ..config import JobConfig
from ..data.loading import Splits
from ..files import write_json
from ..method.mask_state import write_mask_parquet
from ..plots import plot_k_histogram
from ..run_folder import RunSpec, lock_run, locate_run, write_run_record
from ..tracking import MlflowRun, check_tracking_uri, resolve_tracking_uri, ui_command
from .checkpoint import checks_for, k_digest, mask_table_of, newest_intact
from .outcome import TrainingOutcome
from ..data.loader_choice import choose_loader
from .final_evaluation import FinalEvaluation
from .preflight import check_data_and_model, check_device, check_outputs
from .summary import build_summary
from .trainer import EpochHook


def _open_tracking(cfg: JobConfig, spec: RunSpec, tags: dict[str, str] | None) -> MlflowRun | None:
    if not cfg.tracking.enabled:
        return None
    uri = resolve_tracking_uri(cfg.tracking.uri)
    tags = {"dataset": cfg.data.dataset, "method": cfg.method.name, "model": cfg.model.name,
            "smoot.run_name": spec.name, **(tags or {})}
    tracker = MlflowRun.open(uri, spec.name, spec.mlflow_run_id, cfg.tracking.experiment, tags)
    tracker.log_params({**cfg.flat(), "run.workers": cfg.run.workers, "run.use_gpu": cfg.run.use_gpu,
                        **({"run.max_workers": cfg.run.max_workers} if cfg.run.max_workers else {})})
    return tracker


def _finish(cfg: JobConfig, spec: RunSpec, splits: Splits, outcome: TrainingOutcome,
            tracker: MlflowRun | None, wall_time_s: float) -> dict[str, Any]:
    folder = spec.folder
    summary = build_summary(
        cfg, outcome.history, num_train=splits.num_train, num_test=len(splits.test),
        num_pixels=splits.spec.num_pixels, workers=outcome.workers, device=outcome.device,
        wall_time_s=wall_time_s, run_name=spec.name, run_dir=str(folder.path),
        resumes=outcome.resumes,
        k_sha256=k_digest(outcome.k_global) if outcome.k_global is not None else None,
        mlflow={"tracking_uri": tracker.uri, "run_id": tracker.run_id} if tracker else None,
        dataset_spec=dataclasses.asdict(splits.spec))
    torch.save(outcome.model_state, folder.model_path)
    artifacts = [write_json(folder.summary_path, summary), folder.config_path, folder.model_path]
    if outcome.k_global is not None:
        k = outcome.k_global
        write_mask_parquet(folder.mask_state_path, mask_table_of(k))
        title = f"{cfg.method.name.upper()} on {splits.spec.title}, after epoch {len(outcome.history)}"
        artifacts += [folder.mask_state_path,
                      plot_k_histogram(k, splits.spec.num_pixels, cfg.method.k_min, cfg.method.k_max,
                                       folder.k_histogram_path, title)]
    if cfg.run.summary_json:
        write_json(cfg.run.summary_json, summary)
    if tracker is not None:
        tracker.log_missing_epochs(outcome.history)
        for path in artifacts:
            tracker.log_artifact(path)
    return summary


def _resume_point(cfg: JobConfig, spec: RunSpec, splits: Splits):
    """The checkpoint to continue from, read and checked: a damaged one is skipped with a line,
    or stops the run before anything is written."""
    if not spec.resumed:
        return None
    return newest_intact(spec.folder.checkpoints(), splits.num_train, **checks_for(cfg))


def run_training(cfg: JobConfig, *, tags: dict[str, str] | None = None,
                 epoch_hooks: Sequence[EpochHook] = (), ray_callbacks: Sequence = ()
                 ) -> dict[str, Any]:
    """Train one run end to end and return its summary (also written to the run folder, and to
    cfg.run.summary_json when set).

    `tags` go on the MLflow run; `epoch_hooks` run on every rank after each epoch (a sweep's
    objective); `ray_callbacks` are extra Ray Train callbacks (Tune's report forwarding)."""
    start = time.perf_counter()
    # every run ends with a saliency evaluation; first, so that a sweep's objective on the last
    # epoch uses that AUC (the one logged as auc_grad)
    epoch_hooks = (FinalEvaluation(cfg.train.eval_images, cfg.train.seed), *epoch_hooks)
    if cfg.tracking.enabled:
        check_tracking_uri(resolve_tracking_uri(cfg.tracking.uri))
    spec = locate_run(cfg)
    check_outputs(cfg, spec)
    check_device(cfg)
    loader = choose_loader(cfg.data, cfg.run.workers)
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, loader=loader))
    splits = check_data_and_model(cfg)  # the train split only when it is held in memory
    resume_from = _resume_point(cfg, spec, splits)
    if cfg.run.workers > 0:
        from ..launch.ray_cluster import check_resources, connect

        data_cpus = cfg.data.data_cpus if loader == "stream" else 0
        cpus = 0 if cfg.run.use_gpu else cfg.run.workers + data_cpus
        print(f"Ray: {connect(cfg.run.ray_address, cpus, cfg.run.verbose)}", flush=True)
        check_resources(cfg.run.workers, cfg.run.use_gpu, data_cpus)
    # Everything checked: from here on the run exists (folder, MLflow run).
    with lock_run(spec):
        again = locate_run(cfg, spec.name)
        if again.record != spec.record:  # another job moved the run on while we checked
            spec, resume_from = again, _resume_point(cfg, again, splits)
        tracker = _open_tracking(cfg, spec, tags)
        try:
            write_run_record(spec, cfg, mlflow_run_id=tracker.run_id if tracker else None,
                             tracking_uri=tracker.uri if tracker else None)
            print(f"run {spec.name}: {spec.folder.path}" + (" (resuming)" if spec.resumed else ""),
                  flush=True)
            if tracker is not None:
                print(f"MLflow run {tracker.run_id} in {tracker.uri}\n  open the UI: "
                      f"{ui_command(tracker.uri)}", flush=True)
            if cfg.run.workers == 0:
                from .in_process import run_in_process

                outcome = run_in_process(cfg, spec, tracker, splits, resume_from, epoch_hooks)
            else:
                from ..launch.ray_train import run_with_ray

                outcome = run_with_ray(cfg, spec, tracker, resume_from, epoch_hooks=epoch_hooks,
                                       callbacks=ray_callbacks)
            summary = _finish(cfg, spec, splits, outcome, tracker, time.perf_counter() - start)
        except BaseException as err:
            if tracker is not None:
                tracker.finish_quietly("KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED")
            raise
        if tracker is not None:
            tracker.finish("FINISHED")
    return summary
