"""A whole training job: checks, run folder, MLflow, training (in-process or Ray), results.

`jobs/train.py` is a thin command over `run_training`; sweeps and reproductions call it too.
Everything a user can get wrong is checked before anything is created (config, data, model,
device, output paths and their free space, the checkpoint to continue from, tracking store, Ray
address and resources), so a bad input costs seconds and loses nothing. The run folder is then
held by this job for its life, and its MLflow run ends FINISHED, FAILED or KILLED (Ctrl-C,
SIGTERM), never left RUNNING while the store answers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Any, Sequence

import torch

from ..config import JobConfig
from ..data.loader_choice import choose_loader
from ..data.loading import Splits
from ..foundations.errors import UserError
from ..foundations.uris import is_remote, without_credentials
from ..evaluation.record import closing_record, write_record
from ..foundations.files import disk_errors, file_sha256, write_json
from ..method.mask_state import write_mask_parquet
from ..plots.k_distribution import plot_k_histogram
from ..runs.folder import EVALUATION_DIR, RunSpec, lock_run, locate_run, restart_run, write_run_record
from ..runs.tracking import (MlflowRun, check_tracking_uri, logged_epochs, replay_note,
                             resolve_tracking_uri, ui_command)
from ..training.checkpoint import (ResumePoint, check_same_data, checks_for, identity_of, k_digest,
                                   mask_table_of, newest_intact, read_record)
from .final_evaluation import FinalEvaluation
from ..training.outcome import TrainingOutcome
from .preflight import (check_closing_evaluation, check_data_and_model, check_device,
                        check_outputs, check_room, check_storage)
from ..training.summary import build_summary
from ..training.trainer import EpochHook, resolve_device
from ..launch.ray_cluster import check_local_capacity, check_resources, connect, worker_precision
from ..training.precision import AUTO, resolve_precision
from .in_process import run_in_process
from .mlflow_logged import dataset_inputs, input_example, requirements, servable_model


def _open_tracking(cfg: JobConfig, spec: RunSpec, tags: dict[str, str] | None,
                   point: ResumePoint, splits: Splits) -> MlflowRun | None:
    if not cfg.tracking.enabled:
        return None
    uri = resolve_tracking_uri(cfg.tracking.uri)
    tags = {"dataset": cfg.data.dataset, "method": cfg.method.name, "model": cfg.model.name,
            "smoot.run_name": spec.name, **(tags or {})}
    earlier = spec.mlflow_run_id
    if cfg.run.restart and earlier:
        tags["smoot.restart_of"] = earlier
    tracker = MlflowRun.open(uri, spec.name, None if cfg.run.restart else earlier,
                             cfg.tracking.experiment, tags)
    try:
        tracker.log_params({**cfg.flat(), "run.workers": cfg.run.workers,
                            "run.use_gpu": cfg.run.use_gpu,
                            **({"run.max_workers": cfg.run.max_workers} if cfg.run.max_workers else {})})
        tracker.record_epochs(cfg.train.epochs)
    except Exception as err:  # the store answered the preflight and MlflowRun.open: rare
        tracker.finish_quietly("FAILED")
        raise UserError(f"MLflow store {uri} refused the run's params ({type(err).__name__}); "
                        f"fix --tracking-uri or pass --no-tracking") from None
    if not tracker.logged:  # a new MLflow run: the data it trains and is tested on
        tracker.attempt("the datasets", tracker.log_datasets, dataset_inputs(cfg, splits))
    # Checkpoints in remote storage are found by Ray Train, after this: the epoch it resumes
    # from is not known here (MLflow's epochs are no sign of a replay: it said "epochs 1-1 are
    # trained again" of a run that went on from epoch 1); the first resumed epoch's line says it
    # then (run_training hands it to run_with_ray; launch/ray_callbacks.py says it)
    note = (replay_note(tracker.run_id, tracker.logged, point.epochs)
            if _resume_known(spec, point) else None)
    if note:
        print(note, flush=True)
    return tracker


def _resume_known(spec: RunSpec, point: ResumePoint) -> bool:
    """Whether the checkpoint this run resumes from is known before training starts: not on
    remote storage, where Ray Train finds it once it has started."""
    return point.folder is not None or not is_remote(spec.storage_path)


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
    with disk_errors(folder.path, "the run's final files",
                     kept=f"the checkpoint of epoch {len(outcome.history)} is kept"):
        torch.save(outcome.model_state, folder.model_path)
        artifacts = [write_json(folder.summary_path, summary), folder.config_path, folder.model_path]
        if outcome.k_global is not None:
            k = outcome.k_global
            write_mask_parquet(folder.mask_state_path, mask_table_of(k))
            title = (f"{cfg.method.name.upper()} on {splits.spec.title}, after epoch "
                     f"{len(outcome.history)}")
            artifacts += [folder.mask_state_path,
                          plot_k_histogram(k, splits.spec.num_pixels, cfg.method.k_min,
                                           cfg.method.k_max, folder.k_histogram_path, title)]
        closing = closing_record(summary)
        if closing is not None:  # the closing evaluation's record, beside jobs/evaluate.py's
            closing.about["written"] = time.strftime("%Y-%m-%d %H:%M:%S")
            record_dir = write_record(folder.evaluation_dir, closing, {})
            artifacts += [(path, f"{EVALUATION_DIR}/{closing.id}")
                          for path in sorted(record_dir.iterdir())]
    # remote storage: the run's final files join its record there (whole files, each once
    # complete); a storage that fails here is one line, and the same command publishes them
    spec.publish(*(item[0] if isinstance(item, tuple) else item for item in artifacts))
    if cfg.run.summary_json:
        with disk_errors(cfg.run.summary_json, "--summary-json"):
            write_json(cfg.run.summary_json, summary)
    if tracker is not None and tracker.attempt("the missing epochs", tracker.log_missing_epochs,
                                               outcome.history):
        for item in artifacts:
            path, where = item if isinstance(item, tuple) else (item, None)
            if not tracker.attempt(f"the file {path.name}", tracker.log_artifact, path, where):
                break
        else:
            _log_model_once(cfg, splits, outcome, tracker, folder)
    return summary


MODEL_STATE_TAG = "smoot.model_sha256"  # the trained state whose model the MLflow run holds
# ... and that model's own URI, models:/<model id>: `runs:/<run id>/model` finds the same model,
# but only after asking the run's own artifacts for a file `model`, which a tracking server that
# proxies artifacts can answer with errors MLflow's client retries for minutes (measured: 4 min
# of backoff before it looked up the logged model)
MODEL_URI_TAG = "smoot.model_uri"


def _log_model_once(cfg: JobConfig, splits: Splits, outcome: TrainingOutcome,
                    tracker: MlflowRun, folder) -> None:
    """The MLflow model of this trained state, logged once: a resume of a finished run (nothing
    trained) does not log the same model again."""
    state = file_sha256(folder.model_path)
    try:
        logged = tracker.client.get_run(tracker.run_id).data.tags.get(MODEL_STATE_TAG)
    except Exception:  # the store stopped answering: log_model's attempt says so
        logged = None
    if logged == state:
        print(f"MLflow run {tracker.run_id} already holds the model of this trained state",
              flush=True)
        return
    model, code_dir = servable_model(cfg, splits, outcome.model_state)
    if tracker.attempt("the model", tracker.log_model, model, input_example(splits), code_dir,
                       requirements(), cfg.tracking.register_model):
        tracker.attempt("the model's tags", tracker.set_tags,
                        {MODEL_STATE_TAG: state, MODEL_URI_TAG: tracker.model_uri})
        print(f"MLflow model: {tracker.model_uri} (mlflow.pytorch.load_model takes it)", flush=True)


def _trained_epochs(spec: RunSpec, point: ResumePoint) -> int:
    """Epochs the run has trained: its newest intact checkpoint's, or, where its checkpoints
    live in remote storage, its finished summary's."""
    if point.folder is not None or not is_remote(spec.storage_path):
        return point.epochs
    summary = spec.folder.read_summary()
    return len(summary.get("epochs", [])) if summary else 0


def _resume_point(cfg: JobConfig, spec: RunSpec, splits: Splits) -> ResumePoint:
    """The checkpoint to continue from, read and checked (a damaged one is skipped, or stops the
    run before anything is written), and whether continuing is what the command can mean: not
    fewer epochs than were trained, and no second start of a run whose checkpoints are gone
    while MLflow or the run folder remembers its epochs (that needs --restart)."""
    name, local = spec.name, not is_remote(spec.storage_path)
    if not spec.resumed:
        if cfg.run.restart:
            raise UserError(f"--restart: there is no run named {name!r} under "
                            f"{spec.folder.path.parent} to restart; drop --restart to start it")
        return ResumePoint()
    point = newest_intact(spec.folder.checkpoints(), splits.num_train, **checks_for(cfg))
    if point.folder is not None:  # the data it was trained on, before anything is written
        check_same_data(point.folder, read_record(point.folder).get("data"),
                        identity_of(cfg.data.dataset, splits.spec, splits.num_train))
    done = _trained_epochs(spec, point)
    if done > cfg.train.epochs and not cfg.run.restart:
        raise UserError(f"run {name!r} has already trained {done} epochs; give --epochs {done} or "
                        f"more to continue it, or a new --run-name")
    if cfg.run.restart:
        if not local:
            raise UserError(f"--restart needs the run's checkpoints in a local folder, not "
                            f"{spec.storage_path}; choose a new --run-name instead")
        if point.folder is not None:
            raise UserError(f"--restart: run {name!r} still has checkpoints (the newest holds "
                            f"epoch {point.epochs}); continue it without --restart, or choose a "
                            f"new --run-name")
        return point
    if point.folder is None and local:
        evidence = _remembered_epochs(cfg, spec)
        if evidence:
            raise UserError(f"run {name!r} has a run record but no checkpoint in "
                            f"{spec.folder.path} ({evidence}); put its checkpoints back to "
                            f"continue it, or pass --restart to train it again from epoch 1 in a "
                            f"new MLflow run")
        print(f"note: run {name!r} has no checkpoint yet: it trains from epoch 1", flush=True)
    return point


def _remembered_epochs(cfg: JobConfig, spec: RunSpec) -> str | None:
    """Why a run without checkpoints has trained before, in words; None if nothing says so."""
    if cfg.tracking.enabled:
        uri = resolve_tracking_uri(cfg.tracking.uri)
        if spec.record.get("tracking_uri") in (None, uri):
            epochs = logged_epochs(uri, spec.mlflow_run_id)
            if epochs:
                return f"its MLflow run {spec.mlflow_run_id} has epochs {epochs[0]}-{epochs[-1]}"
    if spec.folder.summary_path.is_file():
        return "it has a summary.json: it finished"
    if spec.folder.ray_snapshot_path.is_file():
        return "Ray Train's record lists checkpoints that are not there"
    return None


def _resolved_precision(cfg: JobConfig, spec: RunSpec) -> JobConfig:
    """`--precision auto` made fp32 or bf16 before the config is recorded: a continued run keeps
    the precision it recorded; a new one gets bf16 where its training device computes bf16
    natively (training/precision.py)."""
    if cfg.train.precision != AUTO:
        return cfg
    if spec.resumed:
        precision, why = spec.folder.read_config()["train"]["precision"], "as the run recorded"
    elif cfg.run.workers == 0:
        precision, why = resolve_precision(AUTO, resolve_device(cfg.train.device))
    else:
        precision, why = worker_precision(cfg.run.use_gpu)
    print(f"precision: {precision} (auto: {why})", flush=True)
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, precision=precision))


def _keep_damaged_aside(spec: RunSpec, point: ResumePoint) -> None:
    """Damaged checkpoints, out of the run's way and kept as evidence (never pruned)."""
    for err in point.damaged:
        kept = spec.folder.set_aside(err.folder)
        print(f"warning: skipping damaged checkpoint {err.folder.name} ({err.reason}); kept as "
              f"{kept}; resuming from {point.folder.name} (epoch {point.epochs})", flush=True)


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
        check_tracking_uri(resolve_tracking_uri(cfg.tracking.uri), cfg.tracking.experiment)
    check_storage(cfg)
    spec = locate_run(cfg)
    check_outputs(cfg, spec)
    check_device(cfg)
    check_closing_evaluation(cfg)
    loader = choose_loader(cfg.data, cfg.run.workers)
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, loader=loader))
    splits, model_bytes = check_data_and_model(cfg)  # the train split only when held in memory
    point = _resume_point(cfg, spec, splits)
    if not is_remote(spec.storage_path):
        check_room(cfg, spec.folder.path, model_bytes, splits.num_train,
                   cfg.train.epochs - point.epochs, len(spec.folder.checkpoints()))
    if cfg.run.workers > 0:
        data_cpus = cfg.data.data_cpus if loader == "stream" else 0
        check_local_capacity(cfg.run.ray_address, cfg.run.workers, cfg.run.use_gpu)
        cpus = 0 if cfg.run.use_gpu else cfg.run.workers + data_cpus
        print(f"Ray: {connect(cfg.run.ray_address, cpus, cfg.run.verbose)}", flush=True)
        check_resources(cfg.run.workers, cfg.run.use_gpu, data_cpus)
    cfg = _resolved_precision(cfg, spec)
    # Everything checked: from here on the run exists (folder, MLflow run).
    with lock_run(spec):
        again = locate_run(cfg, spec.name)
        if again.record != spec.record:  # another job moved the run on while we checked
            spec, point = again, _resume_point(cfg, again, splits)
        _keep_damaged_aside(spec, point)
        tracker = _open_tracking(cfg, spec, tags, point, splits)
        if cfg.run.restart:
            spec = restart_run(spec)
        try:
            with disk_errors(spec.folder.path, "the run record"):
                write_run_record(spec, cfg, mlflow_run_id=tracker.run_id if tracker else None,
                                 tracking_uri=without_credentials(tracker.uri) if tracker else None)
            print(f"run {spec.name}: {spec.folder.path}" + (" (resuming)" if spec.resumed else ""),
                  flush=True)
            if tracker is not None:
                print(f"MLflow run {tracker.run_id} in {tracker.uri}\n  open the UI: "
                      f"{ui_command(tracker.uri, tracker.experiment_id)}", flush=True)
            resume_from = point.folder
            # MLflow's system metrics of this process: the one that trains, or Ray's driver
            with (tracker.system_metrics(resumed=spec.resumed) if tracker is not None
                  else contextlib.nullcontext()):
                if cfg.run.workers == 0:
                    outcome = run_in_process(cfg, spec, tracker, splits, resume_from, epoch_hooks)
                else:
                    from ..launch.ray_train import run_with_ray

                    # the replay note _open_tracking could not say: at the first resumed epoch
                    replay = ((tracker.run_id, tracker.logged) if tracker is not None
                              and tracker.logged and not _resume_known(spec, point) else None)
                    outcome = run_with_ray(cfg, spec, tracker, resume_from, replay=replay,
                                           epoch_hooks=epoch_hooks, callbacks=ray_callbacks)
            summary = _finish(cfg, spec, splits, outcome, tracker, time.perf_counter() - start)
        except BaseException as err:
            if tracker is not None:
                tracker.finish_quietly("KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED")
            raise
        if tracker is not None and not tracker.attempt("the run's end", tracker.finish, "FINISHED"):
            print(f"warning: MLflow run {tracker.run_id} is not marked FINISHED yet: run the same "
                  f"command again once {tracker.uri} answers", flush=True)
    return summary
