"""A training run's identity and folder, shared by the in-process and the Ray path.

    <runs root>/<run name>/
        run.json            name, config, MLflow run id: what a resume needs
        config.yaml         the resolved config (`--config` accepts it as is)
        checkpoint/         in-process runs: the latest epoch's checkpoint
        checkpoint_*/       Ray runs with local storage: Ray Train's checkpoints
        summary.json, mask_state.parquet, k_histogram.png    written at the end

Running the same command with the same `--run-name` (or `--resume`) continues the run from its
latest checkpoint, with the same MLflow run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config import ExperimentConfig
from .errors import UserError
from .tracking import smoot_home

RUN_FILE = "run.json"
# Settings a resumed run may change; everything else must match the original run.
RESUMABLE_CHANGES = {("train", "epochs"), ("train", "device"), ("train", "eval_batch_size")}


def runs_root() -> Path:
    return smoot_home() / "runs"


@dataclass
class RunSpec:
    name: str
    folder: Path  # local: config, run record, final artifacts, in-process checkpoints
    storage_path: str  # where Ray Train keeps checkpoints (a local folder or a URI)
    resumed: bool = False
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def mlflow_run_id(self) -> str | None:
        return self.record.get("mlflow_run_id")


def _latest_run(root: Path) -> str:
    records = sorted(root.glob(f"*/{RUN_FILE}"), key=lambda p: p.stat().st_mtime)
    if not records:
        raise UserError(f"--resume found no run under {root}; pass --run-name or start a new run")
    return records[-1].parent.name


def _first_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    for section, values in new.items():
        for key, value in values.items():
            if (section, key) in RESUMABLE_CHANGES:
                continue
            before = old.get(section, {}).get(key)
            if before != value:
                return f"{section}.{key} was {before!r}, now {value!r}"
    return None


def locate_run(cfg: ExperimentConfig, run_name: str | None, storage_path: str | None,
               resume: bool) -> RunSpec:
    storage = storage_path or str(runs_root())
    remote = "://" in storage
    local_root = runs_root() if remote else Path(storage).expanduser().resolve()
    if not remote:
        storage = str(local_root)
    if resume and not run_name:
        run_name = _latest_run(local_root)
    name = run_name or f"{cfg.data.dataset}-{cfg.method.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if "/" in name or name in ("", ".", ".."):
        raise UserError(f"--run-name {name!r} must be a plain folder name")
    folder = local_root / name
    record_path = folder / RUN_FILE
    if not record_path.is_file():
        if resume:
            raise UserError(f"--resume: no run named {name!r} under {local_root}")
        return RunSpec(name, folder, storage)
    try:
        record = json.loads(record_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"run record {record_path} is unreadable ({type(err).__name__}); "
                        f"choose another --run-name") from None
    diff = _first_difference(record.get("config", {}), cfg.to_dict())
    if diff:
        raise UserError(f"run {name!r} exists with another config ({diff}); continue it with the "
                        f"same settings, or choose a new --run-name")
    return RunSpec(name, folder, storage, resumed=True, record=record)


def write_run_record(spec: RunSpec, cfg: ExperimentConfig, **fields: Any) -> None:
    spec.folder.mkdir(parents=True, exist_ok=True)
    spec.record = {**spec.record, "name": spec.name, "config": cfg.to_dict(),
                   "storage_path": spec.storage_path, **fields}
    tmp = spec.folder / (RUN_FILE + ".tmp")
    tmp.write_text(json.dumps(spec.record, indent=1))
    tmp.replace(spec.folder / RUN_FILE)
    (spec.folder / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


@dataclass
class TrainingOutcome:
    """What a finished training run hands back to the job, whichever path ran it."""
    history: list[dict[str, Any]]  # one metrics dict per epoch, resumed epochs included
    k_global: Any  # the final mask state by global index (torch.Tensor), None for traditional
    resumes: list[dict[str, Any]]  # one entry per resume: epoch, workers, k_sha256
    device: str
    workers: int
    model_state: dict[str, Any]  # the final model's state_dict (on the CPU)
