"""Run a training job in this process (`--workers 0`): no Ray, CPU or one GPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..config import JobConfig
from ..data.loading import Splits
from ..run_folder import RunSpec
from ..tracking import MlflowRun
from .checkpoint import restore, save_checkpoint
from .outcome import TrainingOutcome
from .trainer import EpochHook, Trainer


def run_in_process(cfg: JobConfig, spec: RunSpec, tracker: MlflowRun | None,
                   splits: Splits | None = None, resume_from: Path | None = None,
                   epoch_hooks: Sequence[EpochHook] = ()) -> TrainingOutcome:
    """Train in this process, continuing from the checkpoint `resume_from` when given."""
    trainer = Trainer(cfg, splits=splits, progress=cfg.run.progress, epoch_hooks=epoch_hooks)
    history: list[dict[str, Any]] = []
    resumes: list[dict[str, Any]] = []
    if resume_from is not None:
        history, resumes = restore(trainer, resume_from, workers=0)
        print(f"resuming run {spec.name} after epoch {trainer.epoch} from {resume_from}", flush=True)
    print(f"training {cfg.method.name} on {trainer.spec.title} ({trainer.num_train} train / "
          f"{len(trainer.test_data)} test samples) with {cfg.model.name} on {trainer.device}, "
          f"{cfg.train.epochs} epoch(s), in this process", flush=True)

    def on_epoch(metrics: dict[str, Any]) -> None:
        history.append(metrics)
        k = trainer.mask_state.k if trainer.uses_mask else None
        spec.folder.write_checkpoint(trainer.epoch, lambda d: save_checkpoint(
            d, trainer.state_dict(), k, history, {"resumes": resumes}))
        if tracker is not None:
            tracker.attempt(f"epoch {trainer.epoch}", tracker.log_epoch, metrics)

    trainer.fit(on_epoch)
    return TrainingOutcome(history, trainer.mask_state.k.cpu() if trainer.uses_mask else None,
                           resumes, str(trainer.device), 0,
                           {k: v.cpu() for k, v in trainer.model.state_dict().items()})
