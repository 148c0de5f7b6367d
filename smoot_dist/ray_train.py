"""The Ray Train adapter (with ray_tune.py, the only modules of the library that import Ray).

Each Ray Train worker runs the same engine.Trainer as an in-process run, with DDP for the
gradients and two collectives of its own: the epoch's metric sums and K histogram
(all-reduce), and, once per epoch for the checkpoint, the mask state (all-gather). Rank r owns
the global indices i with i mod W == r; a checkpoint holds the whole mask state as one table, so
a resumed run re-shards it for whatever worker count it has.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import ray
import ray.train
import torch
import torch.distributed as dist
from ray.train import (Checkpoint, CheckpointConfig, FailureConfig, LoggingConfig, RunConfig,
                       ScalingConfig, UserCallback)
from ray.train.torch import TorchTrainer

from .checkpoint import (completed_epochs, k_digest, latest_checkpoint, load_checkpoint,
                         restore, save_checkpoint)
from .config import ExperimentConfig, merge
from .data.paths import data_root
from .data.sharding import shard_size
from .engine import Trainer, TrainingDiverged
from .errors import UserError
from .runs import RunSpec, TrainingOutcome
from .tracking import MlflowRun, flat_epoch_metrics

REPO_ROOT = Path(__file__).resolve().parent.parent


# -- connecting ------------------------------------------------------------------------------
def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """ray.init waits minutes on an address nobody answers at: knock first."""
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto", "local" or another form Ray resolves itself
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as err:
        raise UserError(f"cannot reach the Ray cluster at {address} ({err.strerror or type(err).__name__}); "
                        f"start it with `ray start --head`, fix --ray-address/RAY_ADDRESS, or unset "
                        f"it to run a local Ray") from None


def connect(address: str | None = None) -> str:
    """Join the cluster at `address` / $RAY_ADDRESS, or start a local one (127.0.0.1 only)."""
    if ray.is_initialized():
        return "the Ray cluster this process is connected to"
    address = address or os.environ.get("RAY_ADDRESS")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address:
        _check_reachable(address)
    try:
        if address:
            ray.init(address=address, log_to_driver=True, logging_level="WARNING")
            return f"Ray cluster at {address}"
        # Workers import smoot_dist from this checkout even when it is not installed.
        pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
        # The dashboard (on 127.0.0.1) serves the state API that Ray Train's controller polls.
        ray.init(address="local", _node_ip_address="127.0.0.1", include_dashboard=True,
                 dashboard_host="127.0.0.1",
                 object_store_memory=200 * 1024 * 1024, logging_level="WARNING",
                 runtime_env={"env_vars": {"PYTHONPATH": pythonpath}})
        return "a local Ray started by this job (127.0.0.1)"
    except (ConnectionError, RuntimeError, ValueError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        where = address or "a local Ray"
        raise UserError(f"cannot reach the Ray cluster at {where} ({first}); start it with "
                        f"`ray start --head`, or unset RAY_ADDRESS to run a local Ray") from None


# -- inside each worker ------------------------------------------------------------------------
def _all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def _gather_k(trainer: Trainer) -> torch.Tensor:
    """The full k vector by global index (on every rank), from every rank's shard."""
    state = trainer.mask_state
    n, world = state.num_samples, state.world_size
    longest = shard_size(n, 0, world)
    padded = torch.zeros(longest, dtype=torch.float32, device=state.k.device)
    padded[: state.k.numel()] = state.k
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    k = torch.empty(n, dtype=torch.float32)
    for r, part in enumerate(parts):
        k[r::world] = part[: shard_size(n, r, world)].cpu()
    return k


def _objective_shard(trainer: Trainer, images: int | None):
    """This rank's share of a fixed, class-balanced sample of the test set, and the sample's size."""
    from .data.subset import balanced_subset

    test = trainer.splits.test
    n = min(images or len(test), len(test))
    sample = balanced_subset(test.labels, n, trainer.spec.num_classes, "test")
    return test.select(sample[trainer.rank::trainer.world_size]), n


def _add_objective(metrics: dict[str, Any], objective: str, trainer: Trainer, shard, total: int) -> None:
    from .evaluation.objective import grad_auc, objective_value

    auc = None
    if objective != "accuracy":
        auc = grad_auc(trainer.model, shard, total, trainer.spec, trainer.all_reduce)
        metrics["auc_grad"] = auc
    metrics["objective"] = objective_value(objective, metrics["test_accuracy"], auc)


@contextlib.contextmanager
def _resume_folder(fallback: str | None):
    """The checkpoint to resume from: Ray's latest, or the run folder's if that one holds more.

    Ray Train learns of a checkpoint when its controller records it; a driver stopped between
    the checkpoint's upload and that record restarts with Ray unaware of it, while the run
    folder (local storage) already has it complete.
    """
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        yield Path(fallback) if fallback else None
        return
    with checkpoint.as_directory() as folder:
        if fallback and completed_epochs(Path(fallback)) > completed_epochs(Path(folder)):
            yield Path(fallback)
        else:
            yield Path(folder)


def _worker_loop(config: dict[str, Any]) -> None:
    cfg = merge(ExperimentConfig(), config["cfg"], "the run's config")
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device()
    if device.type == "cpu":
        torch.set_num_threads(1)  # one core per worker: no oversubscription
    trainer = Trainer(cfg, rank=rank, world_size=world, device=device,
                      wrap_model=ray.train.torch.prepare_model, all_reduce=_all_reduce_sum,
                      progress=False)
    history: list[dict[str, Any]] = []
    resumes: list[dict[str, Any]] = []
    with _resume_folder(config.get("fallback_checkpoint")) as folder:
        record = restore(trainer, folder) if folder is not None else None  # re-shards k
    if record is not None:
        history = record["history"]
        # Gathered back from the shards: proves the state survived the re-sharding intact.
        digest = k_digest(_gather_k(trainer)) if trainer.uses_mask else None
        resumes = record.get("resumes", []) + [{"epoch": trainer.epoch, "workers": world,
                                                "k_sha256": digest}]
        if rank == 0:
            print(f"resumed after epoch {trainer.epoch} on {world} worker(s); mask state sha256 "
                  f"{(digest or '-')[:16]}", flush=True)
    objective = config.get("objective")
    objective_shard = _objective_shard(trainer, config.get("objective_images")) if objective else None
    while trainer.epoch < cfg.train.epochs:
        try:
            metrics = trainer.run_epoch()
        except TrainingDiverged as err:
            # Every rank sees the same all-reduced loss, so all stop here together, and the
            # last good checkpoint stays the latest. Raising would make Ray retry, and a retry
            # replays the same epoch into the same NaN; the driver sees the short history.
            if rank == 0:
                print(f"error: {err}", flush=True)
            return
        if objective:
            _add_objective(metrics, objective, trainer, *objective_shard)
        history.append(metrics)
        k = _gather_k(trainer) if trainer.uses_mask else None
        flat = flat_epoch_metrics(metrics)
        if rank == 0:
            with tempfile.TemporaryDirectory() as folder:
                save_checkpoint(folder, trainer.state_dict(), k, history, {"resumes": resumes})
                ray.train.report(flat, checkpoint=Checkpoint.from_directory(folder))
        else:
            ray.train.report(flat)


# -- on Ray Train's controller -----------------------------------------------------------------
class MlflowEpochLogger(UserCallback):
    """Logs each reported epoch to the run's MLflow run: the one writer (not the workers)."""

    def __init__(self, tracker: MlflowRun):
        self.tracker = tracker

    def after_report(self, run_context, metrics, checkpoint) -> None:
        first = metrics[0] if metrics else {}
        if "epoch" not in first:
            return
        try:
            self.tracker.log_epoch(first)
        except Exception as err:  # tracking trouble must not kill the training run
            print(f"warning: MLflow logging failed ({type(err).__name__}: {err})", flush=True)


# -- on the driver -------------------------------------------------------------------------------
def _user_error_in(err: BaseException) -> UserError | None:
    failures = getattr(err, "worker_failures", {}) or {}
    for exc in failures.values():
        while exc is not None:
            if isinstance(exc, UserError):
                return exc
            exc = getattr(exc, "cause", None) or exc.__cause__
    return None


def run_with_ray(cfg: ExperimentConfig, spec: RunSpec, tracker: MlflowRun | None, *, workers: int,
                 use_gpu: bool, max_failures: int, address: str | None = None,
                 callbacks: list | None = None, objective: str | None = None,
                 objective_images: int | None = None) -> TrainingOutcome:
    """Train under Ray Train. `callbacks` are extra Ray Train UserCallbacks (e.g. Tune's report
    forwarding); `objective` adds a per-epoch `objective` metric (see evaluation.objective)."""
    connect(address)
    print(f"training {cfg.method.name} on {cfg.data.dataset} with {workers} Ray Train worker(s) "
          f"({'GPU' if use_gpu else 'CPU'}); checkpoints: {spec.storage_path}/{spec.name}", flush=True)
    # Workers may not share the driver's environment: give them the data path it resolved.
    worker_cfg = replace(cfg, data=replace(cfg.data, root=str(data_root(cfg.data.root))))
    fallback = None
    if spec.resumed and "://" not in spec.storage_path:
        found = latest_checkpoint(Path(spec.storage_path) / spec.name)
        fallback = str(found) if found else None
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={"cfg": worker_cfg.to_dict(), "objective": objective,
                           "objective_images": objective_images, "fallback_checkpoint": fallback},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu),
        run_config=RunConfig(
            name=spec.name, storage_path=spec.storage_path,
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            failure_config=FailureConfig(max_failures=max_failures),
            # Ray Train's INFO lines repeat every report's metrics; our epoch lines say it once.
            logging_config=LoggingConfig(log_level="WARNING"),
            callbacks=([MlflowEpochLogger(tracker)] if tracker is not None else []) + (callbacks or [])),
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
        raise UserError(f"training stopped in epoch {done + 1}: the loss became NaN or infinite; "
                        f"lower --lr or --lambda ({kept})")
    device = "cuda" if use_gpu else "cpu"
    return TrainingOutcome(record["history"], k, record.get("resumes", []), device, workers,
                           state["model"])
