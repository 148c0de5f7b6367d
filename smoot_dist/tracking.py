"""MLflow: every call the project makes to it. One run per training run, written by one process.

In-process runs log from their own loop; Ray runs log from Ray Train's controller (a
UserCallback fed by `ray.train.report`) and the driver: never from the workers. The run id is
created before training and kept with the run's files, so a resumed run continues the same
MLflow run instead of starting a second one. MLflow is imported only inside the functions, so
`--no-tracking` runs work where it is not installed.

Embedded default: a SQLite store at a fixed path ($SMOOT_HOME/mlflow.db, SMOOT_HOME defaulting
to ~/smoot_dist) with artifacts beside it; `--tracking-uri` (or MLFLOW_TRACKING_URI) for a server.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .errors import UserError
from .files import file_lock
from .home import smoot_home

# Keys of the per-epoch metrics logged for every epoch (and reported to Ray).
EPOCH_METRIC_KEYS = ("train_ce", "train_kl", "train_accuracy", "test_accuracy", "test_loss",
                     "k_min", "k_median", "k_max", "k_mean_fraction", "k_share_at_min",
                     "k_share_at_max", "train_time_s", "epoch_time_s", "auc_grad", "objective",
                     "workers", "auc_random")


def default_tracking_uri() -> str:
    return f"sqlite:///{smoot_home() / 'mlflow.db'}"


def resolve_tracking_uri(uri: str | None) -> str:
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def ui_command(uri: str) -> str:
    if uri.startswith(("http://", "https://")):
        return f"open {uri} in a browser"
    return f"mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000"


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if urlparse(uri).scheme == "sqlite" else None


@contextlib.contextmanager
def _one_writer_creates(uri: str):
    """For a SQLite store, one process at a time creates (and migrates) the database and the
    experiment: MLflow's migrations race when two jobs start on a fresh store."""
    db = _sqlite_path(uri)
    if db is None:
        yield
        return
    with file_lock(db.with_name(db.name + ".lock")):
        yield


def _existing_store(uri: str) -> None:
    """Reading jobs never create a store: a SQLite file that is not there is an error."""
    db = _sqlite_path(uri)
    if db is not None and not db.is_file():
        raise UserError(f"there is no MLflow store at {db}; pass --tracking-uri of the store the "
                        f"runs were tracked in (or --runs with run folders)")


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    # MLflow announces its SQLite migrations at INFO on every new store; keep runs' output readable.
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return MlflowClient(uri)


def check_tracking_uri(uri: str, timeout_s: float = 5.0) -> None:
    """Fail before training when the store cannot be reached or created."""
    if importlib.util.find_spec("mlflow") is None:
        raise UserError("MLflow is not installed here; install it (pip install mlflow) or pass "
                        "--no-tracking")
    scheme = urlparse(uri).scheme
    if scheme in ("http", "https"):
        import requests

        try:
            requests.get(uri.rstrip("/") + "/health", timeout=timeout_s).raise_for_status()
        except requests.RequestException as err:
            reason = type(err).__name__
            raise UserError(f"MLflow tracking server {uri} is not reachable ({reason}); start it, "
                            f"fix --tracking-uri, or pass --no-tracking") from None
    elif scheme == "sqlite":
        db = _sqlite_path(uri)
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"cannot create the MLflow store {db} ({err.strerror}); pass another "
                            f"--tracking-uri or --no-tracking") from None


def flat_epoch_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Engine metrics (with a nested `k`) -> flat floats under EPOCH_METRIC_KEYS, plus `epoch`."""
    flat = {key: float(v) for key, v in metrics.items() if key != "k" and isinstance(v, (int, float))}
    flat.update({f"k_{key}": float(v) for key, v in metrics["k"].items() if key != "n"})
    return flat


class MlflowRun:
    """Handle on one MLflow run. Holds only strings, so it can be shipped to Ray's controller."""

    def __init__(self, uri: str, run_id: str):
        self.uri, self.run_id = uri, run_id

    @property
    def client(self):
        return _client(self.uri)

    @classmethod
    def open(cls, uri: str, run_name: str, run_id: str | None, experiment: str,
             tags: dict[str, str] | None = None) -> "MlflowRun":
        """Continue `run_id` when it exists in this store, else create a run."""
        with _one_writer_creates(uri):
            return cls._open(uri, run_name, run_id, experiment, tags)

    @classmethod
    def _open(cls, uri: str, run_name: str, run_id: str | None, experiment: str,
              tags: dict[str, str] | None) -> "MlflowRun":
        try:
            client = _client(uri)
            if run_id:
                try:
                    client.get_run(run_id)
                    client.update_run(run_id, status="RUNNING")
                    return cls(uri, run_id)
                except Exception:  # not in this store: start a new run below
                    pass
            exp = client.get_experiment_by_name(experiment)
            if exp is None:
                location = None
                if urlparse(uri).scheme == "sqlite":
                    # Beside the database, not in whatever directory the run happens to start in.
                    location = (Path(uri[len("sqlite:///"):]).parent / "mlartifacts").as_uri()
                exp_id = client.create_experiment(experiment, artifact_location=location)
            else:
                exp_id = exp.experiment_id
            run = client.create_run(exp_id, run_name=run_name, tags=tags or {})
        except Exception as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            raise UserError(f"MLflow store {uri} refused the run ({first}); fix --tracking-uri "
                            f"or pass --no-tracking") from None
        return cls(uri, run.info.run_id)

    def log_params(self, params: dict[str, Any]) -> None:
        """Log once: MLflow params are immutable, so a resumed run keeps its original ones."""
        from mlflow.entities import Param

        client = self.client
        if client.get_run(self.run_id).data.params:
            return
        items = [Param(k, str(v)) for k, v in params.items()]
        for start in range(0, len(items), 100):
            client.log_batch(self.run_id, params=items[start:start + 100])

    def log_epoch(self, metrics: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        flat = flat_epoch_metrics(metrics) if "k" in metrics else metrics
        step, now = int(flat["epoch"]), int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[
            Metric(key, float(flat[key]), now, step) for key in EPOCH_METRIC_KEYS if key in flat])

    def log_missing_epochs(self, history: list[dict[str, Any]]) -> int:
        """Log the epochs of `history` this run does not have yet (e.g. the driver stopped before
        the epoch reached MLflow); returns how many. Epochs already there are left alone."""
        logged = {m.step for m in self.client.get_metric_history(self.run_id, "test_accuracy")}
        missing = [m for m in history if int(m["epoch"]) not in logged]
        for metrics in missing:
            self.log_epoch(metrics)
        return len(missing)

    def log_metrics(self, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, 0)
                                                    for k, v in metrics.items()])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)

    def finish_quietly(self, status: str) -> None:
        """finish(), while another error is on its way out: that error is the one to report."""
        try:
            self.finish(status)
        except Exception as err:
            print(f"warning: could not mark MLflow run {self.run_id} {status} "
                  f"({type(err).__name__})", flush=True)


# -- reading runs back (evaluation, comparison, sweeps) ---------------------------------------
def download_run_files(uri: str, run_id: str, names: list[str], dest: Path,
                       optional: tuple[str, ...] = ()) -> str:
    """Download the artifacts `names` of a run into `dest`; returns the run's name. A missing
    artifact is a UserError unless it is `optional`."""
    _existing_store(uri)
    client = _client(uri)
    try:
        run = client.get_run(run_id)
    except Exception:
        raise UserError(f"no MLflow run {run_id} in {uri}; pass a run folder or an id from that "
                        f"store") from None
    for name in names:
        try:
            client.download_artifacts(run_id, name, str(dest))
        except Exception:
            if name not in optional:
                raise UserError(f"MLflow run {run_id} has no {name} artifact: it did not finish") from None
    return run.info.run_name


def finished_run_ids(uri: str, experiment: str, tags: dict[str, str] | None = None,
                     run_ids: list[str] | None = None) -> list[str]:
    """`run_ids` (each checked to exist), else the FINISHED runs of `experiment` with `tags`."""
    _existing_store(uri)
    client = _client(uri)
    if run_ids:
        runs = []
        for rid in run_ids:
            try:
                runs.append(client.get_run(rid))
            except Exception:
                raise UserError(f"no MLflow run {rid} in {uri}") from None
    else:
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            raise UserError(f"no MLflow experiment {experiment!r} in {uri}; pass --experiment")
        query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in (tags or {}).items())
        runs = client.search_runs([exp.experiment_id], filter_string=query,
                                  run_view_type=1, max_results=5000)  # ACTIVE_ONLY
    return [run.info.run_id for run in runs if run.info.status == "FINISHED"]


def try_download(uri: str, run_id: str, name: str, dest: Path) -> bool:
    """Download one artifact (file or folder) if the run has it."""
    try:
        _client(uri).download_artifacts(run_id, name, str(dest))
        return True
    except Exception:
        return False


def close_stopped_trials(uri: str, experiment: str, sweep_id: str) -> int:
    """Trials a scheduler stopped never finished their MLflow run: mark them KILLED."""
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return 0
    runs = client.search_runs([exp.experiment_id],
                              f"tags.sweep = '{sweep_id}' and attributes.status = 'RUNNING'")
    for run in runs:
        if run.data.tags.get("kind") != "sweep":
            client.set_tag(run.info.run_id, "stopped_by", "ASHA")
            client.set_terminated(run.info.run_id, "KILLED")
    return len(runs)
