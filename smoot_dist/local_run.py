"""Run a training job in this process (`--workers 0`): no Ray, CPU or one GPU."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from .checkpoint import k_digest, latest_checkpoint, restore, save_checkpoint
from .config import ExperimentConfig
from .data.loading import Splits
from .engine import Trainer
from .runs import RunSpec, TrainingOutcome
from .tracking import MlflowRun

CHECKPOINT_DIR = "checkpoint"


def _replace_checkpoint(folder: Path, write) -> None:
    """Write the new checkpoint beside the old one, then swap: a crash never leaves none."""
    tmp, cur, old = (folder / f"{CHECKPOINT_DIR}{s}" for s in (".tmp", "", ".old"))
    shutil.rmtree(tmp, ignore_errors=True)
    write(tmp)
    shutil.rmtree(old, ignore_errors=True)
    if cur.exists():
        cur.rename(old)
    tmp.rename(cur)
    shutil.rmtree(old, ignore_errors=True)


def run_in_process(cfg: ExperimentConfig, spec: RunSpec, tracker: MlflowRun | None,
                   splits: Splits | None = None, progress: bool = True) -> TrainingOutcome:
    trainer = Trainer(cfg, splits=splits, progress=progress)
    history: list[dict[str, Any]] = []
    resumes: list[dict[str, Any]] = []
    latest = latest_checkpoint(spec.folder) if spec.resumed else None
    if latest is not None:
        record = restore(trainer, latest)
        history = record["history"]
        resumes = record.get("resumes", []) + [{
            "epoch": trainer.epoch, "workers": 0,
            "k_sha256": k_digest(trainer.mask_state.k) if trainer.uses_mask else None}]
        print(f"resuming run {spec.name} after epoch {trainer.epoch} from {latest}", flush=True)
    print(f"training {cfg.method.name} on {trainer.spec.title} ({len(trainer.train_data)} train / "
          f"{len(trainer.test_data)} test samples) with {cfg.model.name} on {trainer.device}, "
          f"{cfg.train.epochs} epoch(s), in this process", flush=True)

    def on_epoch(metrics: dict[str, Any]) -> None:
        history.append(metrics)
        k = trainer.mask_state.k if trainer.uses_mask else None
        _replace_checkpoint(spec.folder, lambda d: save_checkpoint(
            d, trainer.state_dict(), k, history, {"resumes": resumes}))
        if tracker is not None:
            tracker.log_epoch(metrics)

    trainer.fit(on_epoch)
    return TrainingOutcome(history, trainer.mask_state.k.cpu() if trainer.uses_mask else None,
                           resumes, str(trainer.device), 0,
                           {k: v.cpu() for k, v in trainer.model.state_dict().items()})
