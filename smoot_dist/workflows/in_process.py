"""Run a training job in this process (`--workers 0`): no Ray, CPU or one GPU."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..config import JobConfig
from ..data.loading import Splits
from ..runs.folder import RunSpec
from ..runs.tracking import MlflowRun
from ..training.background_writer import BackgroundWriter
from ..training.epoch_loop import CompletedEpoch, EpochLoop
from ..training.outcome import TrainingOutcome
from ..training.step_progress import StepReport, step_sink
from ..training.trainer import EpochHook, Trainer


def run_in_process(cfg: JobConfig, spec: RunSpec, tracker: MlflowRun | None,
                   splits: Splits | None = None, resume_from: Path | None = None,
                   epoch_hooks: Sequence[EpochHook] = ()) -> TrainingOutcome:
    """Train in this process, continuing from the checkpoint `resume_from` when given."""
    written: list[CompletedEpoch] = []  # the newest snapshot on disk: its buffers are reused

    def log_epoch(done: CompletedEpoch) -> None:
        written[:] = [done]
        if tracker is not None:
            tracker.attempt(f"epoch {done.epoch}", tracker.log_epoch, done.metrics)

    # Each checkpoint is written on a thread while the next epoch trains; the epoch goes to
    # MLflow from this thread once its checkpoint is on disk (see training/background_writer).
    writer = BackgroundWriter(lambda done: spec.folder.write_checkpoint(done.epoch, done.write),
                              after=log_epoch)

    def save(done: CompletedEpoch) -> None:
        writer.submit(done.snapshot(into=written.pop() if written else None))
    # Off a terminal (no bar), a line about every 10% of an epoch; MLflow gets the step metrics.
    sink = step_sink(cfg.run.progress_lines, tracker.step_metrics if tracker is not None else None)

    def on_step(report: StepReport) -> None:
        sink(report)
        writer.poll()

    trainer = Trainer(cfg, splits=splits, progress=cfg.run.progress, epoch_hooks=epoch_hooks,
                      on_step=on_step)
    loop = EpochLoop(trainer, workers=0)
    if resume_from is not None:
        loop.restore(resume_from)
        print(f"resuming run {spec.name} after epoch {trainer.epoch} from {resume_from}", flush=True)
    print(f"training {cfg.method.name} on {trainer.spec.title} ({trainer.num_train} train / "
          f"{len(trainer.test_data)} test samples) with {cfg.model.name} on {trainer.device}, "
          f"{cfg.train.epochs} epoch(s), in this process", flush=True)

    try:
        loop.run(save)
    except BaseException:
        # interrupted (SIGTERM, a diverged loss): the last completed epoch still lands on disk
        # before the run stops, and the error that stopped it is the one reported
        _wait_quietly(writer)
        raise
    writer.wait()  # a failed write raises here, with its own message
    return loop.outcome()


def _wait_quietly(writer: BackgroundWriter) -> None:
    try:
        writer.wait()
    except BaseException as err:  # the error already propagating is the one to report
        print(f"warning: the last checkpoint was not written either: {err}", flush=True)
