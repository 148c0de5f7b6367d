"""A training checkpoint: one folder, written the same way in-process and under Ray.

    state.pt            model + optimizer state_dicts and the epoch (loaded with weights_only=True)
    mask_state.parquet  the whole mask state, columns `index`, `k` (every global index once)
    history.json        the metrics of every completed epoch, the run's resumes, and the sha256
                        of the two files above; written last, so a checkpoint is complete exactly
                        when history.json is there and the files match it

Each file is hashed once, from the bytes written (or when a run first reads a checkpoint that
another process wrote); the digest is remembered by the file's inode with its size and
modification time, so pruning and later checks of the same files cost a stat, not a re-read.
A file changed since (another size or mtime) is hashed again.

Random streams are derived from (seed, epoch, rank) at the start of every epoch (see
Trainer.train_epoch), so seed and epoch are the RNG state: a resumed run replays exactly
what an uninterrupted one would have done, on the same world size.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import torch

from ..foundations.errors import UserError
from ..foundations.files import file_sha256, fsync
from ..method.mask_state import mask_table, mask_table_bytes, read_mask_parquet

STATE_FILE = "state.pt"
MASK_FILE = "mask_state.parquet"
HISTORY_FILE = "history.json"
STATE_KEYS = ("model", "optimizer", "epoch")


class DamagedCheckpoint(UserError):
    """A checkpoint that exists but is incomplete or cannot be read."""

    def __init__(self, folder: Path, reason: str):
        super().__init__(f"checkpoint {folder} is damaged ({reason})")
        self.folder, self.reason = Path(folder), reason


# (st_dev, st_ino) -> (size, mtime_ns, sha256) of the checkpoint files this process wrote or read
_DIGESTS: dict[tuple[int, int], tuple[int, int, str]] = {}


def _stat_key(path: Path) -> tuple[tuple[int, int], tuple[int, int]]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino), (st.st_size, st.st_mtime_ns)


def known_sha256(path: str | Path) -> str:
    """sha256 of a checkpoint file: remembered from when it was written or last hashed, while
    its size and modification time are unchanged; hashed (and remembered) otherwise."""
    key, stamp = _stat_key(Path(path))
    known = _DIGESTS.get(key)
    if known is not None and known[:2] == stamp:
        return known[2]
    digest = file_sha256(path)
    _DIGESTS[key] = (*stamp, digest)
    return digest


def _write_hashed(path: Path, data: bytes) -> str:
    """Write `data` to `path`, flushed to the disk; its sha256, computed from the bytes."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    digest = hashlib.sha256(data).hexdigest()
    key, stamp = _stat_key(path)
    _DIGESTS[key] = (*stamp, digest)
    return digest


def save_checkpoint(folder: str | Path, state: dict[str, Any], k_global: torch.Tensor | None,
                    history: list[dict[str, Any]], meta: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint, each file flushed to the disk and hashed from its bytes in memory;
    history.json last, with the sha256 of the others."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    files = {STATE_FILE: buffer.getvalue()}
    if k_global is not None:
        files[MASK_FILE] = mask_table_bytes(mask_table(torch.arange(k_global.numel()), k_global))
    digests = {name: _write_hashed(folder / name, data) for name, data in files.items()}
    record = {"history": history, **(meta or {}), "files": digests}
    _write_hashed(folder / HISTORY_FILE, json.dumps(record, indent=1).encode())
    fsync(folder)
    return folder


def read_record(folder: str | Path, needs_mask: bool = False) -> dict[str, Any]:
    """The checkpoint's history record, once the checkpoint is known complete and its files are
    the ones it was written with; else DamagedCheckpoint says what is wrong. `needs_mask`: the
    run masks (sgt, smoot), so a missing mask state is damage, not "no mask state"."""
    folder = Path(folder)
    if not (folder / HISTORY_FILE).is_file():
        raise DamagedCheckpoint(folder, f"{HISTORY_FILE} is missing")
    try:
        record = json.loads((folder / HISTORY_FILE).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        raise DamagedCheckpoint(folder, f"{HISTORY_FILE} is not valid JSON") from None
    if not isinstance(record, dict) or not isinstance(record.get("history"), list):
        raise DamagedCheckpoint(folder, f"{HISTORY_FILE} holds no epoch history")
    epochs = [m.get("epoch") if isinstance(m, dict) else None for m in record["history"]]
    if epochs != list(range(1, len(epochs) + 1)):  # e.g. entries copied in: never trust a count
        shown = ",".join(map(str, epochs[:12])) + (",..." if len(epochs) > 12 else "")
        raise DamagedCheckpoint(folder, f"{HISTORY_FILE} lists epochs [{shown}], not 1 to "
                                        f"{len(epochs)} once each")
    for name in [STATE_FILE] + ([MASK_FILE] if needs_mask else []):
        if not (folder / name).is_file():
            raise DamagedCheckpoint(folder, f"{name} is missing")
    for name, digest in (record.get("files") or {}).items():  # checkpoints before 0.2 have none
        path = folder / name
        if not path.is_file():
            raise DamagedCheckpoint(folder, f"{name} is missing")
        if known_sha256(path) != digest:
            raise DamagedCheckpoint(folder, f"{name} was altered or truncated: its sha256 is not "
                                            f"the one recorded")
    return record


def completed_epochs(folder: str | Path, needs_mask: bool = False) -> int:
    """Epochs a checkpoint folder holds, or -1 if it is incomplete or damaged."""
    try:
        return len(read_record(folder, needs_mask)["history"])
    except DamagedCheckpoint:
        return -1


def load_checkpoint(folder: str | Path, num_samples: int | None = None, needs_mask: bool = False,
                    k_bounds: tuple[float, float] | None = None
                    ) -> tuple[dict[str, Any], torch.Tensor | None, dict[str, Any]]:
    """(state, full k vector or None, history record) from a checkpoint folder, every part
    checked; a damaged part raises DamagedCheckpoint. `k_bounds`: (k_min, k_max) that every
    stored k respects (SMOOT clips k to them)."""
    folder = Path(folder)
    record = read_record(folder, needs_mask)
    try:
        state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged file: unpickling errors come in many types
        raise DamagedCheckpoint(folder, f"{STATE_FILE} cannot be read: {type(err).__name__}") from None
    if not isinstance(state, dict) or not all(key in state for key in STATE_KEYS):
        raise DamagedCheckpoint(folder, f"{STATE_FILE} lacks one of {', '.join(STATE_KEYS)}")
    if state["epoch"] != len(record["history"]):
        raise DamagedCheckpoint(folder, f"{STATE_FILE} holds epoch {state['epoch']!r} but "
                                        f"{HISTORY_FILE} lists {len(record['history'])} epochs")
    k = None
    if (folder / MASK_FILE).exists():
        try:
            k = read_mask_parquet(folder / MASK_FILE, num_samples, k_bounds)
        except UserError as err:
            raise DamagedCheckpoint(folder, str(err)) from None
    return state, k, record


@dataclass
class ResumePoint:
    """Where a run continues from: its newest intact checkpoint (None: none) and the damaged
    checkpoints met on the way, which the caller keeps aside as evidence."""
    folder: Path | None = None
    epochs: int = 0
    damaged: list[DamagedCheckpoint] = field(default_factory=list)


def newest_intact(candidates: list[Path], num_samples: int | None = None, needs_mask: bool = False,
                  k_bounds: tuple[float, float] | None = None) -> ResumePoint:
    """The intact checkpoint among `candidates` that holds the most epochs (every part read and
    checked), with the damaged ones found.

    A damaged checkpoint (incomplete, altered, unreadable, inconsistent) is never used; with an
    older intact one, the run resumes from that; with none, a UserError stops the run before
    anything is written or moved."""
    intact, damaged = [], []
    for candidate in candidates:
        try:
            intact.append((len(read_record(candidate, needs_mask)["history"]), candidate))
        except DamagedCheckpoint as err:
            damaged.append(err)
    for epochs, candidate in sorted(intact, key=lambda t: t[0], reverse=True):
        try:
            load_checkpoint(candidate, num_samples, needs_mask, k_bounds)
            return ResumePoint(candidate, epochs, damaged)
        except DamagedCheckpoint as err:
            damaged.append(err)
    if damaged:
        raise UserError(f"{damaged[0]}, and there is no older intact checkpoint; nothing was "
                        f"changed: move that folder away to train the run from the start, or "
                        f"choose another --run-name")
    return ResumePoint()


def intact_epochs(folder: str | Path, num_samples: int | None = None, needs_mask: bool = False,
                  k_bounds: tuple[float, float] | None = None) -> int:
    """Epochs a checkpoint holds once every part is read and checked; -1 if it is damaged."""
    try:
        return len(load_checkpoint(folder, num_samples, needs_mask, k_bounds)[2]["history"])
    except DamagedCheckpoint:
        return -1


def checks_for(cfg) -> dict[str, Any]:
    """What a checkpoint of this run (a JobConfig) must hold: a mask state for sgt and smoot,
    and for smoot every k within [k_min, k_max]."""
    m = cfg.method
    return {"needs_mask": m.name != "traditional",
            "k_bounds": (m.k_min, m.k_max) if m.name == "smoot" else None}


def restore(trainer, folder: str | Path, workers: int,
            k_global: Callable[[], torch.Tensor] | None = None
            ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Load a checkpoint into a Trainer (re-sharding the mask state for its rank and world
    size); returns the epochs' history and the run's resumes with this one appended: the epoch
    it resumes after, `workers` (0: in-process), and the sha256 of the mask state as now held,
    gathered back by `k_global` where it is sharded (proof it survived the re-sharding intact)."""
    state, k, record = load_checkpoint(folder, trainer.num_train, **checks_for(trainer.cfg))
    check_same_data(folder, record.get("data"), data_identity(trainer))
    trainer.load_state_dict(state, k)
    digest = None
    if trainer.uses_mask:
        digest = k_digest(k_global() if k_global is not None else trainer.mask_state.k)
    resumes = record.get("resumes", []) + [{"epoch": trainer.epoch, "workers": workers,
                                            "k_sha256": digest}]
    return record["history"], resumes


def data_identity(trainer) -> dict[str, Any]:
    """What a checkpoint was trained on, as it records it: the dataset and its shape."""
    return identity_of(trainer.cfg.data.dataset, trainer.spec, trainer.num_train)


def identity_of(dataset: str, spec, num_train: int) -> dict[str, Any]:
    return {"dataset": dataset, "num_train": num_train, "classes": spec.num_classes,
            "channels": spec.channels, "image_size": spec.image_size}


def check_same_data(folder: Path | str, recorded: dict[str, Any] | None,
                     now: dict[str, Any]) -> None:
    """A run continues on the data its checkpoint was trained on, whatever its config files
    say (checkpoints from before this record are taken as they are)."""
    if not recorded:
        return
    for key, value in now.items():
        if key in recorded and recorded[key] != value:
            raise UserError(f"checkpoint {folder} was trained with {key} {recorded[key]!r}, but "
                            f"the run's config gives {value!r}; a run has one config: restore "
                            f"it (train a new run for other data)")


def k_digest(k: torch.Tensor) -> str:
    """sha256 of a k vector's float32 bytes: shows two mask states are identical."""
    return hashlib.sha256(k.detach().cpu().to(torch.float32).contiguous().numpy().tobytes()).hexdigest()


def mask_table_of(k_global: torch.Tensor) -> pa.Table:
    return mask_table(torch.arange(k_global.numel()), k_global)
