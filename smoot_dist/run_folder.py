"""A training run's folder: the one module that knows the files inside it and reads/writes them.

    <runs root>/<run name>/
        run.json            name, config, MLflow run id: what a resume needs
        config.yaml         the resolved experiment config (`--config` accepts it as is)
        checkpoint/         in-process runs: the latest epoch's checkpoint (training/checkpoint.py)
        checkpoint_*/       Ray runs with local storage: Ray Train's checkpoints
        summary.json, model.pt, mask_state.parquet, k_histogram.png    written at the end
        evaluation/         drop_curves.csv, auc.json, drop_curves.png (jobs/evaluate.py)

The same names are the artifact paths of the run's MLflow run. Running the same command with the
same `--run-name` (or `--resume`) continues the run from its latest checkpoint, with the same
MLflow run.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from .config import JobConfig
from .errors import UserError
from .files import write_json, write_text
from .home import runs_root

RUN_FILE = "run.json"
CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.json"
MODEL_FILE = "model.pt"
MASK_STATE_FILE = "mask_state.parquet"
K_HISTOGRAM_FILE = "k_histogram.png"
CHECKPOINT_DIR = "checkpoint"
EVALUATION_DIR = "evaluation"
DROP_CURVES_CSV, AUC_JSON, DROP_CURVES_PNG = "drop_curves.csv", "auc.json", "drop_curves.png"
# Settings a resumed run may change; everything else must match the original run.
RESUMABLE_CHANGES = {("train", "epochs"), ("train", "device"), ("train", "eval_batch_size")}


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.config_path = self.path / CONFIG_FILE
        self.summary_path = self.path / SUMMARY_FILE
        self.model_path = self.path / MODEL_FILE
        self.mask_state_path = self.path / MASK_STATE_FILE
        self.k_histogram_path = self.path / K_HISTOGRAM_FILE
        # The saliency evaluation's files: DROP_CURVES_CSV, AUC_JSON, DROP_CURVES_PNG.
        self.evaluation_dir = self.path / EVALUATION_DIR

    # -- identity and config --------------------------------------------------------------
    def has_record(self) -> bool:
        return (self.path / RUN_FILE).is_file()

    def read_record(self) -> dict[str, Any]:
        path = self.path / RUN_FILE
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise UserError(f"run record {path} is unreadable ({type(err).__name__}); "
                            f"choose another --run-name") from None

    def write_record(self, record: dict[str, Any], cfg: JobConfig) -> None:
        write_json(self.path / RUN_FILE, record)
        write_text(self.config_path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    def read_summary(self) -> dict[str, Any] | None:
        return json.loads(self.summary_path.read_text()) if self.summary_path.is_file() else None

    # -- checkpoints ------------------------------------------------------------------------
    def latest_checkpoint(self) -> Path | None:
        """The complete checkpoint that holds the most epochs (None if there is none): the
        in-process `checkpoint/` or one of Ray Train's `checkpoint_<time>/`; a run can resume
        from either, on either path."""
        from .training.checkpoint import completed_epochs

        best, best_epochs = None, 0
        for candidate in self.path.glob(CHECKPOINT_DIR + "*"):
            epochs = completed_epochs(candidate)
            if epochs > best_epochs:
                best, best_epochs = candidate, epochs
        return best

    def replace_checkpoint(self, write: Callable[[Path], Any]) -> None:
        """Write the new in-process checkpoint beside the old one, then swap: a crash never
        leaves none."""
        tmp, cur, old = (self.path / f"{CHECKPOINT_DIR}{s}" for s in (".tmp", "", ".old"))
        shutil.rmtree(tmp, ignore_errors=True)
        write(tmp)
        shutil.rmtree(old, ignore_errors=True)
        if cur.exists():
            cur.rename(old)
        tmp.rename(cur)
        shutil.rmtree(old, ignore_errors=True)


@dataclass
class RunSpec:
    name: str
    folder: RunFolder  # local: config, run record, final artifacts, in-process checkpoints
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


def locate_run(cfg: JobConfig) -> RunSpec:
    """The folder of the run `cfg.run` names (new, or an existing one to continue)."""
    run_name, resume = cfg.run.run_name, cfg.run.resume
    storage = cfg.run.storage_path or str(runs_root())
    remote = "://" in storage
    local_root = runs_root() if remote else Path(storage).expanduser().resolve()
    if not remote:
        storage = str(local_root)
    if resume and not run_name:
        run_name = _latest_run(local_root)
    name = run_name or f"{cfg.data.dataset}-{cfg.method.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if "/" in name or name in ("", ".", ".."):
        raise UserError(f"--run-name {name!r} must be a plain folder name")
    folder = RunFolder(local_root / name)
    if not folder.has_record():
        if resume:
            raise UserError(f"--resume: no run named {name!r} under {local_root}")
        return RunSpec(name, folder, storage)
    record = folder.read_record()
    diff = _first_difference(record.get("config", {}), cfg.to_dict())
    if diff:
        raise UserError(f"run {name!r} exists with another config ({diff}); continue it with the "
                        f"same settings, or choose a new --run-name")
    return RunSpec(name, folder, storage, resumed=True, record=record)


def write_run_record(spec: RunSpec, cfg: JobConfig, **fields: Any) -> None:
    spec.record = {**spec.record, "name": spec.name, "config": cfg.to_dict(),
                   "storage_path": spec.storage_path, **fields}
    spec.folder.write_record(spec.record, cfg)
