"""A training checkpoint: one folder, written the same way in-process and under Ray.

    state.pt            model + optimizer state_dicts and the epoch (loaded with weights_only=True)
    mask_state.parquet  the whole mask state, columns `index`, `k` (every global index once)
    history.json        the metrics of every completed epoch, and the run's identity

Random streams are derived from (seed, epoch, rank) at the start of every epoch (see
Trainer.train_epoch), so seed and epoch are the RNG state: a resumed run replays exactly
what an uninterrupted one would have done, on the same world size.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import torch

from ..errors import UserError
from ..method.mask_state import mask_table, read_mask_parquet, write_mask_parquet

STATE_FILE = "state.pt"
MASK_FILE = "mask_state.parquet"
HISTORY_FILE = "history.json"


def save_checkpoint(folder: str | Path, state: dict[str, Any], k_global: torch.Tensor | None,
                    history: list[dict[str, Any]], meta: dict[str, Any] | None = None) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / STATE_FILE)
    if k_global is not None:
        write_mask_parquet(folder / MASK_FILE, mask_table(torch.arange(k_global.numel()), k_global))
    (folder / HISTORY_FILE).write_text(json.dumps({"history": history, **(meta or {})}, indent=1))
    return folder


def load_checkpoint(folder: str | Path, num_samples: int | None = None
                    ) -> tuple[dict[str, Any], torch.Tensor | None, dict[str, Any]]:
    """(state, full k vector or None, history record) from a checkpoint folder."""
    folder = Path(folder)
    try:
        state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
        record = json.loads((folder / HISTORY_FILE).read_text())
    except FileNotFoundError as err:
        raise UserError(f"checkpoint {folder} is incomplete (missing {Path(err.filename).name}); "
                        f"start a new run or point --resume at another run") from None
    except Exception as err:  # a damaged file: unpickling/JSON errors come in many types
        raise UserError(f"checkpoint {folder} cannot be read ({type(err).__name__}); start a new "
                        f"run or point --resume at another run") from None
    mask_path = folder / MASK_FILE
    k = read_mask_parquet(mask_path, num_samples) if mask_path.exists() else None
    return state, k, record


def restore(trainer, folder: str | Path, workers: int,
            k_global: Callable[[], torch.Tensor] | None = None
            ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Load a checkpoint into a Trainer (re-sharding the mask state for its rank and world
    size); returns the epochs' history and the run's resumes with this one appended: the epoch
    it resumes after, `workers` (0: in-process), and the sha256 of the mask state as now held,
    gathered back by `k_global` where it is sharded (proof it survived the re-sharding intact)."""
    state, k, record = load_checkpoint(folder, len(trainer.train_data))
    trainer.load_state_dict(state, k)
    digest = None
    if trainer.uses_mask:
        digest = k_digest(k_global() if k_global is not None else trainer.mask_state.k)
    resumes = record.get("resumes", []) + [{"epoch": trainer.epoch, "workers": workers,
                                            "k_sha256": digest}]
    return record["history"], resumes


def completed_epochs(folder: Path) -> int:
    """Epochs a checkpoint folder holds, or -1 if it is incomplete or unreadable."""
    try:
        if not (folder / STATE_FILE).is_file():
            return -1
        return len(json.loads((folder / HISTORY_FILE).read_text())["history"])
    except (OSError, ValueError, KeyError, TypeError):
        return -1


def k_digest(k: torch.Tensor) -> str:
    """sha256 of a k vector's float32 bytes: shows two mask states are identical."""
    return hashlib.sha256(k.detach().cpu().to(torch.float32).contiguous().numpy().tobytes()).hexdigest()


def mask_table_of(k_global: torch.Tensor) -> pa.Table:
    return mask_table(torch.arange(k_global.numel()), k_global)
