"""The shell around the epochs, written once for both paths: restore a checkpoint (with the
history and resumes it holds), train epoch after epoch up to `train.epochs`, and after each one
hand the completed epoch to the caller's `save` (the in-process run writes it to the run folder
and logs it to MLflow; a Ray worker reports it to Ray Train), then the outcome.

What differs between the paths is only in the hooks: where the whole mask state comes from
(`k_global`: this process's, or gathered from every rank), and what `save` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from .background_writer import cpu_copy
from .checkpoint import data_identity, restore, save_checkpoint
from .outcome import TrainingOutcome
from .trainer import Trainer


@dataclass
class CompletedEpoch:
    """An epoch just trained: its metrics, and all a checkpoint of it holds."""
    metrics: dict[str, Any]
    state: dict[str, Any]  # model, optimizer, epoch
    k: torch.Tensor | None  # the whole mask state by global index; None without a mask
    history: list[dict[str, Any]]
    resumes: list[dict[str, Any]]
    data: dict[str, Any] = field(default_factory=dict)  # what it trained on (data_identity)

    @property
    def epoch(self) -> int:
        return self.state["epoch"]

    def write(self, folder: str | Path) -> None:
        """This epoch's checkpoint, into `folder`."""
        save_checkpoint(folder, self.state, self.k, self.history,
                        {"resumes": self.resumes, "data": self.data})

    def snapshot(self, into: "CompletedEpoch | None" = None) -> "CompletedEpoch":
        """This epoch with its tensors copied to the CPU and its lists copied: what a writer
        on another thread may hold while training goes on. `into`: an older snapshot whose
        write has ended, whose buffers are reused."""
        return CompletedEpoch(self.metrics, cpu_copy(self.state, into and into.state),
                              None if self.k is None else cpu_copy(self.k, into and into.k),
                              list(self.history), list(self.resumes), self.data)


class EpochLoop:
    def __init__(self, trainer: Trainer, workers: int,
                 k_global: Callable[[], torch.Tensor] | None = None):
        """`workers`: 0 in-process, else the Ray worker count (recorded in each resume).
        `k_global`: the whole mask state, gathered where it is sharded (a collective: every
        rank calls it each epoch); default this trainer's own."""
        self.trainer, self.workers = trainer, workers
        self.k_global = k_global or (lambda: trainer.mask_state.k)
        self.history: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []

    def restore(self, folder: str | Path) -> None:
        """Continue from the checkpoint in `folder` (its mask state re-sharded for this rank)."""
        self.history, self.resumes = restore(self.trainer, folder, workers=self.workers,
                                             k_global=self.k_global)

    def run(self, save: Callable[[CompletedEpoch], None]) -> None:
        """Train the remaining epochs, each handed to `save` once completed. A TrainingDiverged
        propagates: the last saved epoch stays the newest checkpoint."""
        trainer = self.trainer
        while trainer.epoch < trainer.cfg.train.epochs:
            metrics = trainer.run_epoch()
            self.history.append(metrics)
            k = self.k_global() if trainer.uses_mask else None
            save(CompletedEpoch(metrics, trainer.state_dict(), k, self.history, self.resumes,
                                data_identity(trainer)))

    def outcome(self) -> TrainingOutcome:
        trainer = self.trainer
        return TrainingOutcome(self.history, self.k_global().cpu() if trainer.uses_mask else None,
                               self.resumes, str(trainer.device), self.workers,
                               {k: v.cpu() for k, v in trainer.model.state_dict().items()})
