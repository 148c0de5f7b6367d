"""What a finished training run hands back to the job, whichever path (in-process, Ray) ran it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class TrainingOutcome:
    history: list[dict[str, Any]]  # one metrics dict per epoch, resumed epochs included
    k_global: Any  # the final mask state by global index (torch.Tensor), None for traditional
    resumes: list[dict[str, Any]]  # one entry per resume: epoch, workers, k_sha256
    device: str
    workers: int
    model_state: dict[str, Any]  # the final model's state_dict (on the CPU)
