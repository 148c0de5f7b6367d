"""Run a training job in this process (`--workers 0`): no Ray, CPU or one GPU."""

from __future__ import annotations

from typing import Any, Sequence

from ..config import JobConfig
from ..data.loading import Splits
from ..run_folder import RunSpec
from ..tracking import MlflowRun
from .checkpoint import restore, save_checkpoint
from .outcome import TrainingOutcome
from .trainer import EpochHook, Trainer


def run_in_process(cfg: JobConfig, spec: RunSpec, tracker: MlflowRun | None,
                   splits: Splits | None = None, epoch_hooks: Sequence[EpochHook] = ()
                   ) -> TrainingOutcome:
    trainer = Trainer(cfg, splits=splits, progress=cfg.run.progress, epoch_hooks=epoch_hooks)
    history: list[dict[str, Any]] = []
    resumes: list[dict[str, Any]] = []
    latest = spec.folder.latest_checkpoint() if spec.resumed else None
    if latest is not None:
        history, resumes = restore(trainer, latest, workers=0)
        print(f"resuming run {spec.name} after epoch {trainer.epoch} from {latest}", flush=True)
    print(f"training {cfg.method.name} on {trainer.spec.title} ({len(trainer.train_data)} train / "
          f"{len(trainer.test_data)} test samples) with {cfg.model.name} on {trainer.device}, "
          f"{cfg.train.epochs} epoch(s), in this process", flush=True)

    def on_epoch(metrics: dict[str, Any]) -> None:
        history.append(metrics)
        k = trainer.mask_state.k if trainer.uses_mask else None
        spec.folder.replace_checkpoint(lambda d: save_checkpoint(
            d, trainer.state_dict(), k, history, {"resumes": resumes}))
        if tracker is not None:
            tracker.log_epoch(metrics)

    trainer.fit(on_epoch)
    return TrainingOutcome(history, trainer.mask_state.k.cpu() if trainer.uses_mask else None,
                           resumes, str(trainer.device), 0,
                           {k: v.cpu() for k, v in trainer.model.state_dict().items()})
