"""A finished training run, loaded back for evaluation: its config, model and identity.

A run is named by its folder (`<storage>/<run name>`, holding config.yaml, model.pt and
run.json) or by an MLflow run id, whose artifacts hold the same files.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import ExperimentConfig, build_config
from .data.registry import get_dataset_spec
from .errors import UserError
from .models import create_model
from .runs import RUN_FILE, runs_root

MODEL_FILE = "model.pt"


@dataclass
class TrainedRun:
    cfg: ExperimentConfig
    model: nn.Module
    folder: Path  # where its files are (a temporary copy for an MLflow-only run)
    name: str
    mlflow_run_id: str | None
    tracking_uri: str | None
    summary: dict[str, Any] | None


def _from_folder(folder: Path, tracking_uri: str | None) -> TrainedRun:
    for name in ("config.yaml", MODEL_FILE):
        if not (folder / name).is_file():
            raise UserError(f"run folder {folder} has no {name}: it did not finish; train it to the "
                            f"end (run the same command again) before evaluating it")
    cfg = build_config(str(folder / "config.yaml"))
    model = create_model(cfg.model, get_dataset_spec(cfg.data.dataset))
    try:
        model.load_state_dict(torch.load(folder / MODEL_FILE, map_location="cpu", weights_only=True))
    except Exception as err:  # damaged file or another architecture
        raise UserError(f"{folder / MODEL_FILE} cannot be loaded into {cfg.model.name} "
                        f"({type(err).__name__}); train the run again") from None
    record = json.loads((folder / RUN_FILE).read_text()) if (folder / RUN_FILE).is_file() else {}
    summary_path = folder / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
    return TrainedRun(cfg, model, folder, record.get("name", folder.name),
                      record.get("mlflow_run_id"), tracking_uri or record.get("tracking_uri"), summary)


def _from_mlflow(run_id: str, tracking_uri: str) -> TrainedRun:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    try:
        run = client.get_run(run_id)
    except Exception:
        raise UserError(f"no MLflow run {run_id} in {tracking_uri}; pass a run folder or an id "
                        f"from that store") from None
    folder = Path(tempfile.mkdtemp(prefix=f"smoot-{run_id[:8]}-"))
    for name in ("config.yaml", MODEL_FILE, "summary.json"):
        try:
            client.download_artifacts(run_id, name, str(folder))
        except Exception:
            if name != "summary.json":
                raise UserError(f"MLflow run {run_id} has no {name} artifact: it did not finish") from None
    trained = _from_folder(folder, tracking_uri)
    trained.name, trained.mlflow_run_id = run.info.run_name, run_id
    return trained


def load_trained(source: str, tracking_uri: str | None = None) -> TrainedRun:
    """`source`: a run folder, a run name under the default runs root, or an MLflow run id."""
    for candidate in (Path(source).expanduser(), runs_root() / source):
        if candidate.is_dir():
            return _from_folder(candidate.resolve(), tracking_uri)
    from .tracking import resolve_tracking_uri

    if all(c in "0123456789abcdef" for c in source) and len(source) == 32:
        return _from_mlflow(source, resolve_tracking_uri(tracking_uri))
    raise UserError(f"{source!r} is neither a run folder, a run under {runs_root()}, nor an "
                    f"MLflow run id")
