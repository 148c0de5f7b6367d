"""A finished training run, loaded back for evaluation: its config, model and identity.

A run is named by its folder (see runs/folder.py), by a run name under the default runs root,
or by an MLflow run id, whose artifacts hold the same files.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..config import JobConfig, build_config
from ..foundations.catalog import DatasetSpec, get_dataset_spec
from ..foundations.errors import UserError
from ..foundations.home import runs_root
from ..models.registry import create_model
from ..runs.folder import (CONFIG_FILE, MODEL_FILE, RUN_FILE, SUMMARY_FILE, RunFolder,
                          folder_on_storage, read_config_yaml, recorded_run_name, storage_of)
from ..foundations.uris import is_remote
from ..runs.tracking import download_run_files
from ..runs.tracking import resolve_tracking_uri

if TYPE_CHECKING:
    from ..runs.remote import RemoteRuns


@dataclass
class TrainedRun:
    cfg: JobConfig
    model: nn.Module
    folder: RunFolder  # where its files are (a temporary copy for an MLflow-only run)
    name: str
    mlflow_run_id: str | None
    tracking_uri: str | None
    summary: dict[str, Any] | None
    # a run on remote storage: where its folder lives (`folder` is this machine's cache of it)
    remote: RemoteRuns | None = None

    def publish(self, path: Path) -> None:
        """A file or folder written into the run folder (an evaluation's record), to the remote
        storage the run lives in; nothing to do for a local run."""
        if self.remote is not None:
            self.remote.publish(self.name, path, path.relative_to(self.folder.path).as_posix())

    @property
    def spec(self) -> DatasetSpec:
        return _dataset_spec(self.cfg, self.summary)


def _dataset_spec(cfg: JobConfig, summary: dict[str, Any] | None) -> DatasetSpec:
    """The data's shape and classes as the run saw them (its summary keeps them; runs from
    before 0.2 have built-in datasets only)."""
    saved = (summary or {}).get("dataset_spec")
    if saved:
        return DatasetSpec(**{**saved, "mean": tuple(saved["mean"]), "std": tuple(saved["std"]),
                              "classes": tuple(saved.get("classes", ()))})
    return get_dataset_spec(cfg.data.dataset)


def _checked_config(folder: RunFolder, summary: dict[str, Any] | None) -> JobConfig:
    """The run's one config (run.json's, or for a run from MLflow its config.yaml), checked by
    its digest, and against what the run's summary says it trained on."""
    if folder.has_record():
        source, config = str(folder.path / RUN_FILE), folder.read_config()
    else:
        source, config = str(folder.config_path), read_config_yaml(folder.config_path)
    cfg = build_config(recorded=(source, config))
    trained_on = (summary or {}).get("dataset")
    if trained_on is not None and trained_on != cfg.data.dataset:
        raise UserError(f"the config of run {folder.path.name} names the dataset "
                        f"{cfg.data.dataset}, but the run trained on {trained_on} (its "
                        f"summary.json); a run has one config: restore it")
    return cfg


def _from_folder(folder: RunFolder, tracking_uri: str | None) -> TrainedRun:
    for path in (folder.config_path, folder.model_path):
        if not path.is_file():
            raise UserError(f"run folder {folder.path} has no {path.name}: it did not finish; train "
                            f"it to the end (run the same command again) before evaluating it")
    summary = folder.read_summary()
    cfg = _checked_config(folder, summary)
    model = create_model(cfg.model, _dataset_spec(cfg, summary))
    try:
        model.load_state_dict(torch.load(folder.model_path, map_location="cpu", weights_only=True))
    except Exception as err:  # damaged file or another architecture
        raise UserError(f"{folder.model_path} cannot be loaded into {cfg.model.name} "
                        f"({type(err).__name__}); train the run again") from None
    record = folder.read_record() if folder.has_record() else {}
    name = recorded_run_name(record.get("name", folder.path.name), str(folder.path / RUN_FILE))
    return TrainedRun(cfg, model, folder, name, record.get("mlflow_run_id"),
                      tracking_uri or record.get("tracking_uri"), summary)


def _from_mlflow(run_id: str, tracking_uri: str) -> TrainedRun:
    folder = RunFolder(tempfile.mkdtemp(prefix=f"smoot-{run_id[:8]}-"))
    name = download_run_files(tracking_uri, run_id, [CONFIG_FILE, MODEL_FILE, SUMMARY_FILE],
                              folder.path, optional=(SUMMARY_FILE,))
    trained = _from_folder(folder, tracking_uri)
    trained.name = recorded_run_name(name, f"MLflow run {run_id}")
    trained.mlflow_run_id = run_id
    return trained


def _from_storage(name: str, storage_path: str, tracking_uri: str | None) -> TrainedRun:
    folder, remote = folder_on_storage(name, storage_path)
    trained = _from_folder(folder, tracking_uri)
    trained.remote = remote
    return trained


def load_trained(source: str, tracking_uri: str | None = None,
                 storage_path: str | None = None) -> TrainedRun:
    """`source`: a run folder, a run name under the default runs root (or under
    `storage_path`, local or remote), or an MLflow run id."""
    if is_remote(storage_path):
        return _from_storage(source, storage_path, tracking_uri)
    root = storage_of(storage_path)[1] if storage_path else runs_root()
    for candidate in (Path(source).expanduser(), root / source):
        if candidate.is_dir():
            return _from_folder(RunFolder(candidate.resolve()), tracking_uri)

    if all(c in "0123456789abcdef" for c in source) and len(source) == 32:
        return _from_mlflow(source, resolve_tracking_uri(tracking_uri))
    raise UserError(f"{source!r} is neither a run folder, a run under {root}, nor an "
                    f"MLflow run id")
