"""The Ray Train adapter, on the driver: start a TorchTrainer whose workers run
launch/ray_worker.py, and turn its result into the job's TrainingOutcome."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import ray.train
from ray.train import (CheckpointConfig, FailureConfig, LoggingConfig, RunConfig as RayRunConfig,
                       ScalingConfig)
from ray.train.torch import TorchTrainer

from ..config import JobConfig
from ..data.paths import pin_data_root
from ..errors import UserError
from ..run_folder import RunFolder, RunSpec
from ..training.checkpoint import load_checkpoint
from ..training.outcome import TrainingOutcome
from ..training.trainer import EpochHook, TrainingDiverged
from ..tracking import MlflowRun
from .ray_callbacks import MlflowEpochLogger
from .ray_cluster import connect
from .ray_worker import worker_loop


def _user_error_in(err: BaseException) -> UserError | None:
    failures = getattr(err, "worker_failures", {}) or {}
    for exc in failures.values():
        while exc is not None:
            if isinstance(exc, UserError):
                return exc
            exc = getattr(exc, "cause", None) or exc.__cause__
    return None


def run_with_ray(cfg: JobConfig, spec: RunSpec, tracker: MlflowRun | None, *,
                 epoch_hooks: Sequence[EpochHook] = (), callbacks: Sequence = ()) -> TrainingOutcome:
    """Train under Ray Train with cfg.run's workers, GPUs and failure budget. `epoch_hooks` run
    in every worker after each epoch; `callbacks` are extra Ray Train UserCallbacks."""
    run = cfg.run
    connect(run.ray_address)
    print(f"training {cfg.method.name} on {cfg.data.dataset} with {run.workers} Ray Train worker(s) "
          f"({'GPU' if run.use_gpu else 'CPU'}); checkpoints: {spec.storage_path}/{spec.name}",
          flush=True)
    fallback = None
    if spec.resumed and "://" not in spec.storage_path:
        found = RunFolder(Path(spec.storage_path) / spec.name).latest_checkpoint()
        fallback = str(found) if found else None
    # The workers need the experiment only; the progress bar is the driver's business.
    worker_cfg = replace(pin_data_root(cfg), run=replace(run, progress=False))
    trainer = TorchTrainer(
        worker_loop,
        train_loop_config={"cfg": worker_cfg, "epoch_hooks": tuple(epoch_hooks),
                           "fallback_checkpoint": fallback},
        scaling_config=ScalingConfig(num_workers=run.workers, use_gpu=run.use_gpu),
        run_config=RayRunConfig(
            name=spec.name, storage_path=spec.storage_path,
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            failure_config=FailureConfig(max_failures=run.max_failures),
            # Ray Train's INFO lines repeat every report's metrics; our epoch lines say it once.
            logging_config=LoggingConfig(log_level="WARNING"),
            callbacks=([MlflowEpochLogger(tracker)] if tracker is not None else []) + list(callbacks)),
    )
    try:
        result = trainer.fit()
    except ray.train.TrainingFailedError as err:
        user = _user_error_in(err)
        if user is not None:
            raise UserError(str(user)) from None
        raise
    record: dict[str, Any] = {"history": []}
    k, state = None, {"model": {}}
    if result.checkpoint is not None:
        with result.checkpoint.as_directory() as folder:
            state, k, record = load_checkpoint(folder)
    done = len(record["history"])
    if done < cfg.train.epochs:
        kept = (f"the checkpoint of epoch {done} is kept in {spec.storage_path}/{spec.name}"
                if done else "no epoch completed")
        raise TrainingDiverged.in_epoch(done + 1, kept=kept)
    device = "cuda" if run.use_gpu else "cpu"
    return TrainingOutcome(record["history"], k, record.get("resumes", []), device, run.workers,
                           state["model"])
