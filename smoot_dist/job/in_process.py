"""Run a training job in this process (`--workers 0`): no Ray, CPU or one GPU."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..config import JobConfig
from ..data.loading import Splits
from ..run_folder import RunSpec
from ..tracking import MlflowRun
from ..training.epoch_loop import CompletedEpoch, EpochLoop
from ..training.outcome import TrainingOutcome
from ..training.step_progress import step_sink
from ..training.trainer import EpochHook, Trainer


def run_in_process(cfg: JobConfig, spec: RunSpec, tracker: MlflowRun | None,
                   splits: Splits | None = None, resume_from: Path | None = None,
                   epoch_hooks: Sequence[EpochHook] = ()) -> TrainingOutcome:
    """Train in this process, continuing from the checkpoint `resume_from` when given."""
    # Off a terminal (no bar), a line about every 10% of an epoch; MLflow gets the step metrics.
    sink = step_sink(cfg.run.progress_lines, tracker.step_metrics if tracker is not None else None)
    trainer = Trainer(cfg, splits=splits, progress=cfg.run.progress, epoch_hooks=epoch_hooks,
                      on_step=sink)
    loop = EpochLoop(trainer, workers=0)
    if resume_from is not None:
        loop.restore(resume_from)
        print(f"resuming run {spec.name} after epoch {trainer.epoch} from {resume_from}", flush=True)
    print(f"training {cfg.method.name} on {trainer.spec.title} ({trainer.num_train} train / "
          f"{len(trainer.test_data)} test samples) with {cfg.model.name} on {trainer.device}, "
          f"{cfg.train.epochs} epoch(s), in this process", flush=True)

    def save(done: CompletedEpoch) -> None:
        spec.folder.write_checkpoint(done.epoch, done.write)
        if tracker is not None:
            tracker.attempt(f"epoch {done.epoch}", tracker.log_epoch, done.metrics)

    loop.run(save)
    return loop.outcome()
