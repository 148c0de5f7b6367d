"""Run a training job in this process (`--workers 0`): no Ray, CPU or one GPU."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
import yaml

from .config import ExperimentConfig
from .engine import Trainer
from .method.mask_state import write_mask_parquet
from .summary import build_summary


def run_in_process(cfg: ExperimentConfig, output_dir: Path | None, progress: bool = True) -> dict[str, Any]:
    start = time.perf_counter()
    trainer = Trainer(cfg, progress=progress)
    print(f"training {cfg.method.name} on {trainer.spec.title} ({len(trainer.train_data)} train / "
          f"{len(trainer.test_data)} test samples) with {cfg.model.name} on {trainer.device}, "
          f"{cfg.train.epochs} epoch(s), in this process", flush=True)
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    def save(_metrics: dict[str, Any]) -> None:
        if output_dir is not None and trainer.uses_mask:
            write_mask_parquet(output_dir / "mask_state.parquet", trainer.mask_state.to_table())

    history = trainer.fit(on_epoch=save)
    if output_dir is not None:
        torch.save(trainer.model.state_dict(), output_dir / "model.pt")
    return build_summary(cfg, history, num_train=len(trainer.train_data),
                         num_test=len(trainer.test_data), num_pixels=trainer.num_pixels,
                         workers=0, device=str(trainer.device),
                         wall_time_s=time.perf_counter() - start,
                         output_dir=str(output_dir) if output_dir else None)
