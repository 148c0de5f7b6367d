"""Inside each Ray Train worker: the same Trainer as an in-process run, with DDP for the
gradients, the collectives of launch/collectives.py, and a checkpoint report per epoch.

Rank r owns the global indices i with i mod W == r; a checkpoint holds the whole mask state as
one table, so a resumed run re-shards it for whatever worker count it has.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any, Callable

import ray
import ray.train
import torch
from ray.train import Checkpoint, CheckpointUploadMode

from ..data.storage import is_local
from ..training.checkpoint import checks_for, completed_epochs, intact_epochs
from ..training.epoch_loop import CompletedEpoch, EpochLoop
from ..training.step_progress import StepReport, step_sink
from ..training.trainer import Trainer, TrainingDiverged
from ..runs.tracking import flat_epoch_metrics
from .collectives import all_reduce_sum, gather_k
from .older_checkpoint import damage_of, older_intact
from .ray_data_stream import StreamBatches


@contextlib.contextmanager
def _resume_folder(resume_from: str | None, checks: dict[str, Any], rank: int):
    """(the checkpoint to resume from, a warning to print or None): Ray's latest, or the one the
    driver chose from the run folder if that one holds more epochs or Ray's is damaged.

    Ray Train learns of a checkpoint when its controller records it; a driver stopped between
    the checkpoint's upload and that record restarts with Ray unaware of it, while the run
    folder (local storage) already has it complete. And Ray's latest may be one the driver
    found damaged and skipped: it is read and checked whole before it is preferred. On remote
    storage the driver chose none: a damaged latest is kept aside there and the newest intact
    one before it is used (launch/older_checkpoint.py).
    """
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        yield (Path(resume_from) if resume_from else None), None
        return
    with checkpoint.as_directory() as folder:
        ours = completed_epochs(resume_from, checks["needs_mask"]) if resume_from else -1
        if ours >= 0 and (ours >= completed_epochs(folder, checks["needs_mask"])
                          or intact_epochs(folder, **checks) < 0):
            yield Path(resume_from), None
            return
        # the driver chose none on remote storage only (locally it looked at every checkpoint)
        remote = ours < 0 and not is_local(checkpoint.filesystem)
        reason = damage_of(folder, checks) if remote else None
        if reason is None:
            yield Path(folder), None
            return
    with older_intact(checkpoint.filesystem, checkpoint.path, reason, checks,
                      keep=rank == 0) as found:
        yield found


def _step_relay(relay, lines: bool) -> Callable[[StepReport], None]:
    """Rank 0's progress within an epoch goes to the driver through the relay (which prints the
    lines and logs the step metrics to MLflow); with --verbose (no relay) this worker prints
    the lines and Ray forwards them."""
    if relay is None:
        return step_sink(lines)

    def put(report: StepReport) -> None:
        try:
            relay.put(report.to_dict(), timeout=5)
        except Exception:  # the driver's queue gone or full: progress is no reason to stop
            pass
    return put


def _background_checkpoints() -> Callable[[CompletedEpoch], dict[str, Any]]:
    """Rank 0's checkpoint, off the training loop's critical path: at the epoch boundary only a
    CPU copy of the state is taken (into the buffers of a snapshot already written), and the
    report hands Ray an empty staging folder with an upload function. Ray runs that function
    on its one upload thread, in report order, while the next epoch trains: it serialises and
    hashes the snapshot into the staging folder and persists it as Ray's own upload would
    (then Ray deletes the staging folder). A failed write is raised in the training loop by
    Ray, as a synchronous one was; Ray waits for the last upload before the worker finishes.
    The epoch in flight plus the few milliseconds of an upload are what a killed worker costs."""
    storage = ray.train.get_context().get_storage()  # Ray's DeveloperAPI to its storage
    written: list[CompletedEpoch] = []  # snapshots whose upload has ended: reusable buffers

    def arguments(done: CompletedEpoch) -> dict[str, Any]:
        snapshot = done.snapshot(into=written.pop() if written else None)
        staging = tempfile.mkdtemp(prefix="smoot-checkpoint-")

        def write_and_persist(checkpoint: Checkpoint, name: str) -> Checkpoint:
            snapshot.write(staging)
            persisted = storage.persist_current_checkpoint(checkpoint, name)
            written.append(snapshot)
            return persisted
        return {"checkpoint": Checkpoint.from_directory(staging),
                "checkpoint_upload_mode": CheckpointUploadMode.ASYNC,
                "checkpoint_upload_fn": write_and_persist,
                "delete_local_checkpoint_after_upload": True}
    return arguments


def worker_loop(config: dict[str, Any]) -> None:
    """Ray Train's train_loop_per_worker. `config`: cfg (the JobConfig), epoch_hooks,
    resume_from (the run folder's newest intact checkpoint, or None)."""
    cfg = config["cfg"]
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device()
    if device.type == "cpu":
        torch.set_num_threads(1)  # one core per worker: no oversubscription
    stream = None
    if cfg.data.loader == "stream":  # decided on the driver (data/loader_choice.py)

        stream = StreamBatches(cfg, rank, world, device)
    # Epoch lines reach the console through the driver (launch/ray_callbacks.py EpochRelay);
    # with --verbose the workers print them too, as Ray forwards everything then.
    log = print if cfg.run.verbose else (lambda line: None)
    trainer = Trainer(cfg, rank=rank, world_size=world, device=device,
                      wrap_model=ray.train.torch.prepare_model, all_reduce=all_reduce_sum,
                      epoch_hooks=config.get("epoch_hooks", ()), train_batches=stream, log=log,
                      on_step=_step_relay(config.get("relay"), cfg.run.progress_lines))
    loop = EpochLoop(trainer, workers=world, k_global=lambda: gather_k(trainer))
    checks = {"num_samples": trainer.num_train, **checks_for(cfg)}
    with _resume_folder(config.get("resume_from"), checks, rank) as (folder, skipped):
        if folder is not None:  # re-shards k; the digest is of the state gathered back
            loop.restore(folder)
    # the first epoch reported after a restart says so (the driver prints the note), and
    # which damaged checkpoint it skipped
    note = {"resumed_after": float(trainer.epoch)} if loop.resumes else {}
    if skipped:
        note["skipped"] = skipped
    if loop.resumes and rank == 0:
        log(f"resumed after epoch {trainer.epoch} on {world} worker(s); mask state sha256 "
            f"{(loop.resumes[-1]['k_sha256'] or '-')[:16]}")

    upload = _background_checkpoints() if rank == 0 else (lambda done: {})  # rank 0 checkpoints

    def report(done: CompletedEpoch) -> None:
        flat = {**flat_epoch_metrics(done.metrics), **note}
        note.clear()
        ray.train.report(flat, **upload(done))

    try:
        loop.run(report)
    except TrainingDiverged as err:
        # Every rank sees the same all-reduced loss, so all stop here together, and the last
        # good checkpoint stays the latest. Raising would make Ray retry, and a retry replays
        # the same epoch into the same NaN; the driver sees the short history.
        if rank == 0:
            log(f"error: {err}")  # the driver reports it, from the short history
