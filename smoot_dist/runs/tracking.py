"""MLflow: every call the project makes to it. One run per training run, written by one process.

In-process runs log from their own loop; Ray runs log from Ray Train's controller (a
UserCallback fed by `ray.train.report`) and the driver: never from the workers. The run id is
created before training and kept with the run's files, so a resumed run continues the same
MLflow run instead of starting a second one. MLflow is imported only inside the functions, so
`--no-tracking` runs work where it is not installed.

Embedded default: a SQLite store at a fixed path ($SMOOT_HOME/mlflow.db, SMOOT_HOME defaulting
to ~/smoot_dist) with artifacts beside it; `--tracking-uri` (or MLFLOW_TRACKING_URI) for a server.

Nothing here can hang a job: every HTTP call has a bounded timeout and retry count (MLflow's
MLFLOW_HTTP_REQUEST_* variables, defaulted below unless the user set them); the preflight makes
a real API call; and during training a store that stops answering costs a warning, not the run
(every epoch's metrics are in the run folder, and the missing ones are logged when the same
command runs again).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import sqlite3
import time
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import urlparse

from ..foundations.deadline import failure_within, first_line
from ..foundations.errors import UserError
from ..foundations.files import file_lock
from ..foundations.home import smoot_home

# Keys of the per-epoch metrics logged for every epoch (and reported to Ray).
EPOCH_METRIC_KEYS = ("train_ce", "train_kl", "train_accuracy", "val_accuracy", "val_loss",
                     "val_auc_grad", "test_accuracy", "test_loss",
                     "k_min", "k_median", "k_max", "k_mean_fraction", "k_share_at_min",
                     "k_share_at_max", "train_time_s", "epoch_time_s", "auc_grad", "objective",
                     "workers", "auc_random")


def default_tracking_uri() -> str:
    return f"sqlite:///{smoot_home() / 'mlflow.db'}"


def resolve_tracking_uri(uri: str | None) -> str:
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


# MLflow 3's UI shows an experiment in its GenAI view (traces, "No data available") unless told
# otherwise: its "Model training" toggle, which the browser then remembers, or this parameter.
MODEL_TRAINING = "workflowType=machine_learning"
# The runs table's columns are the browser's choice, with no server-side default; but the UI
# opens a view shared through an experiment tag (mlflow.sharedViewState.<key>, the state as
# JSON) when the URL names its key. Ours shows what a reader compares runs by.
RUNS_VIEW = "smoot-runs"
RUNS_VIEW_STATE = {
    # (attribute columns such as Dataset would push the metrics off a laptop's screen)
    "selectedColumns": ["params.`method.name`", "params.`data.dataset`", "params.`train.epochs`",
                        "metrics.`test_accuracy`", "metrics.`auc_grad`", "metrics.`k_median`"],
    "orderByKey": "attributes.start_time", "orderByAsc": False,
}


def experiment_url(base: str, experiment_id: str) -> str:
    """The UI's page of an experiment's training runs, with accuracy and AUC columns."""
    return (f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?{MODEL_TRAINING}"
            f"&viewStateShareKey={RUNS_VIEW}")


def ui_command(uri: str, experiment_id: str | None = None) -> str:
    """How to open the UI on `uri` (on the experiment's runs, given its id). One server worker:
    the default four keep dying on a 2-core machine, and one serves a person's browser well."""
    if uri.startswith(("http://", "https://")):
        return f"open {experiment_url(uri, experiment_id) if experiment_id else uri}"
    page = (f", then open {experiment_url('http://127.0.0.1:5000', experiment_id)}"
            if experiment_id else "")
    return f"mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000 --workers 1{page}"


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


# MLflow's own defaults retry a request 7 times with exponential backoff, for minutes, each
# attempt waiting up to 120 s: a server that accepts and never answers stalls a job for longer
# than its epochs. A user's own settings of these variables win.
MLFLOW_ENV = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "10", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
                "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                # downloads (compare, evaluate RUN_ID) would draw bars on stderr, the place of
                # the one line that says what went wrong
                "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
QUIET_LOGGERS = ("mlflow", "alembic", "sqlalchemy")


def _mlflow_env() -> None:
    for name, value in MLFLOW_ENV.items():
        os.environ.setdefault(name, value)


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    _mlflow_env()  # in every process that talks to MLflow (Ray's controller too)
    # MLflow announces its SQLite migrations at INFO on every new store; keep runs' output
    # readable (and leave a quieter level, quiet_mlflow's, as it is).
    for name in ("mlflow", "alembic"):
        if logging.getLogger(name).level < logging.WARNING:
            logging.getLogger(name).setLevel(logging.WARNING)
    return MlflowClient(uri)


@contextlib.contextmanager
def quiet_mlflow() -> Iterator[None]:
    """MLflow logs a failed store operation at ERROR, dozens of lines for one refusal, before
    the exception that this project turns into its one line: silence it around such calls."""
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _api_failure(err: Exception) -> str:
    if "timed out" in str(err) or "Timeout" in str(err):  # requests' words, inside MLflow's
        return f"no answer within {os.environ.get('MLFLOW_HTTP_REQUEST_TIMEOUT')} s a try"
    return first_line(err)


def _check_sqlite(db: Path) -> None:
    """The SQLite store's folder can be written, and an existing database is one (intact)."""
    what = "pass another --tracking-uri or --no-tracking"
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the MLflow store {db} ({err.strerror}); {what}") from None
    for path in (db.parent, *([db] if db.exists() else [])):
        if not os.access(path, os.W_OK):
            raise UserError(f"the MLflow store {db} cannot be written ({path} is read-only); {what}")
    if not db.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True,
                                                timeout=30)) as con:
            verdict = con.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.OperationalError as err:
        if "locked" in str(err):  # another job is writing: busy, not broken
            return
        verdict = str(err)
    except sqlite3.DatabaseError as err:
        verdict = str(err)
    if verdict != "ok":
        raise UserError(f"the MLflow store {db} is damaged (SQLite: {verdict[:120]}); restore it "
                        f"from a backup, move it away to start a new one, or {what}")


def _request_bound_s() -> float:
    """How long one MLflow request may take with its retries, as the environment bounds it
    (at most 20 s for the preflight's one call)."""
    _mlflow_env()
    timeout = float(os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"])
    tries = int(os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]) + 1
    return min(20.0, timeout * tries + 5.0)


def check_tracking_uri(uri: str, experiment: str = "smoot_dist") -> None:
    """Fail before training when the store cannot be reached, written or read: for a server,
    a real API call (reading the experiment) must answer in time, not just /health."""
    if importlib.util.find_spec("mlflow") is None:
        raise UserError("MLflow is not installed here; install it (pip install mlflow) or pass "
                        "--no-tracking")
    scheme = urlparse(uri).scheme
    if scheme in ("http", "https"):
        import requests

        fix = "start it, fix --tracking-uri, or pass --no-tracking"
        try:
            requests.get(uri.rstrip("/") + "/health", timeout=5).raise_for_status()
        except requests.RequestException as err:
            raise UserError(f"MLflow tracking server {uri} is not reachable "
                            f"({type(err).__name__}); {fix}") from None
        def read_experiment() -> None:
            with quiet_mlflow():
                _client(uri).get_experiment_by_name(experiment)

        problem = failure_within(read_experiment, _request_bound_s(), _api_failure)
        if problem:
            raise UserError(f"MLflow tracking server {uri} answers /health but not its API "
                            f"({problem}); {fix}")
    elif scheme == "sqlite":
        _check_sqlite(_sqlite_path(uri))


def flat_epoch_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Engine metrics (with a nested `k`) -> flat floats under EPOCH_METRIC_KEYS, plus `epoch`."""
    flat = {key: float(v) for key, v in metrics.items() if key != "k" and isinstance(v, (int, float))}
    flat.update({f"k_{key}": float(v) for key, v in metrics["k"].items() if key != "n"})
    return flat


# The UI opens an experiment by its kind: without it, MLflow 3 guesses and may land on the GenAI
# overview (traces, "No data available") instead of the runs table.
EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_TAGS = {
    EXPERIMENT_KIND: "custom_model_development",
    f"mlflow.sharedViewState.{RUNS_VIEW}": json.dumps(RUNS_VIEW_STATE),
    "mlflow.note.content": (
        "Training runs of smoot_dist: image classifiers trained traditionally, with SGT or with "
        "SMOOT (saliency-guided masking with a per-sample, adaptive number of masked pixels). "
        "Each run logs its config as params, per-epoch and per-step metrics, its evaluations "
        "(keys prefixed by the evaluation's protocol id; the training run's closing one "
        "unprefixed), the model, and the data it trained and was tested on."),
}


def _standard_tags(tags: dict[str, str]) -> dict[str, str]:
    """`tags` with MLflow's own standard ones, as its fluent API sets them: the source (the
    job's script), its git commit where it runs from a checkout, the user."""
    try:
        from mlflow.tracking.context.registry import resolve_tags

        return resolve_tags(tags)
    except Exception:  # a context provider that fails (no git binary, ...): our tags still go
        return dict(tags)


@contextlib.contextmanager
def _fluent_uri(uri: str) -> Iterator[None]:
    """MLflow's fluent API pointed at `uri` for the block. mlflow.set_tracking_uri also exports
    $MLFLOW_TRACKING_URI to this whole process and every process it starts (a reproduction's
    next runs, a test's next job), and pins the URI in MLflow's module state, where it outranks
    the variable for the rest of the process (a later runs:/ URI would be looked up in this
    store): both are put back, the pin cleared and the variable as it was."""
    import mlflow

    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(None)  # clears the pin (and the variable, restored below)
        if before is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = before


def replay_note(run_id: str, logged: Iterable[int], resumed_epoch: int) -> str | None:
    """What to say when the MLflow run holds epochs beyond the checkpoint a run resumes from:
    they are trained again, and MLflow keeps their first values. None when it holds none."""
    ahead = sorted(e for e in logged if e > resumed_epoch)
    if not ahead:
        return None
    return (f"note: MLflow run {run_id} has epochs {ahead[0]}-{ahead[-1]} from before the "
            f"checkpoint this run resumes from (epoch {resumed_epoch}); they are trained again, "
            f"and MLflow keeps their first values (summary.json has the new ones)")


class MlflowRun:
    """Handle on one MLflow run. Holds only plain values, so it can be shipped to Ray's
    controller. `logged`: the epochs the run had logged when it was opened; they are never
    logged a second time (a run resumed from behind them keeps their first values)."""

    def __init__(self, uri: str, run_id: str, logged: frozenset[int] = frozenset(),
                 experiment_id: str | None = None):
        self.uri, self.run_id, self.logged = uri, run_id, logged
        self.experiment_id = experiment_id
        self.failing = False  # the store stopped answering: one warning, then quiet retries
        # [first, last] step metrics the store did not take; said in the run once it answers
        self.missing_steps: list[list[int]] = []
        self._span_open = False
        self.model_uri: str | None = None  # the logged model's, once log_model has logged it

    @property
    def client(self):
        return _client(self.uri)

    @classmethod
    def open(cls, uri: str, run_name: str, run_id: str | None, experiment: str,
             tags: dict[str, str] | None = None) -> "MlflowRun":
        """Continue `run_id` when it exists in this store, else create a run (and say why
        when there was one to continue)."""
        with _one_writer_creates(uri), quiet_mlflow():
            return cls._open(uri, run_name, run_id, experiment, tags)

    @classmethod
    def _open(cls, uri: str, run_name: str, run_id: str | None, experiment: str,
              tags: dict[str, str] | None) -> "MlflowRun":
        try:
            client = _client(uri)
            if run_id:
                found = _existing_run(client, run_id)
                if found is not None:
                    client.update_run(run_id, status="RUNNING")
                    return cls(uri, run_id, frozenset(_logged_steps(client, run_id)),
                               found.info.experiment_id)
                print(f"note: this run's MLflow run {run_id} is not in {uri} any more (deleted?); "
                      f"a new MLflow run takes its place", flush=True)
            exp = client.get_experiment_by_name(experiment)
            if exp is None:
                location = None
                if urlparse(uri).scheme == "sqlite":
                    # Beside the database, not in whatever directory the run happens to start in.
                    location = (Path(uri[len("sqlite:///"):]).parent / "mlartifacts").as_uri()
                exp_id = client.create_experiment(experiment, artifact_location=location,
                                                  tags=EXPERIMENT_TAGS)
            else:
                exp_id = exp.experiment_id
                for key, value in EXPERIMENT_TAGS.items():  # made before these tags were
                    if key not in exp.tags:
                        client.set_experiment_tag(exp_id, key, value)
            run = client.create_run(exp_id, run_name=run_name, tags=_standard_tags(tags or {}))
        except Exception as err:
            raise UserError(f"MLflow store {uri} refused the run ({first_line(err)}); fix "
                            f"--tracking-uri or pass --no-tracking") from None
        return cls(uri, run.info.run_id, experiment_id=exp_id)

    def log_params(self, params: dict[str, Any]) -> None:
        """Log once: MLflow params are immutable, so a resumed run keeps its original ones."""
        from mlflow.entities import Param

        client = self.client
        if client.get_run(self.run_id).data.params:
            return
        # an unset option (None) is no param: "None" in the runs table would read as a value
        items = [Param(k, str(v)) for k, v in params.items() if v is not None]
        for start in range(0, len(items), 100):
            client.log_batch(self.run_id, params=items[start:start + 100])

    def record_epochs(self, epochs: int) -> None:
        """The run's epoch target, which a resume may extend: MLflow params cannot change, so
        the tag `train.epochs` holds the current one and `smoot.epochs_extended` each change
        ("3->5, 5->8")."""
        run = self.client.get_run(self.run_id)
        before = run.data.tags.get("train.epochs") or run.data.params.get("train.epochs")
        if before is not None and before != str(epochs):
            extended = run.data.tags.get("smoot.epochs_extended")
            change = f"{before}->{epochs}"
            self.client.set_tag(self.run_id, "smoot.epochs_extended",
                                f"{extended}, {change}" if extended else change)
        self.client.set_tag(self.run_id, "train.epochs", str(epochs))

    def log_epoch(self, metrics: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        flat = flat_epoch_metrics(metrics) if "k" in metrics else metrics
        step, now = int(flat["epoch"]), int(time.time() * 1000)
        if step in self.logged:
            return
        self.client.log_batch(self.run_id, metrics=[
            Metric(key, float(flat[key]), now, step) for key in EPOCH_METRIC_KEYS if key in flat])

    def log_missing_epochs(self, history: list[dict[str, Any]]) -> int:
        """Log the epochs of `history` this run does not have yet (e.g. the driver stopped before
        the epoch reached MLflow, or the store did not answer); returns how many. Epochs already
        there are left alone."""
        logged = set(_logged_steps(self.client, self.run_id)) | set(self.logged)
        missing = [m for m in history if int(m["epoch"]) not in logged]
        for metrics in missing:
            self.log_epoch(metrics)
        return len(missing)

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        for i in range(0, len(items), 1000):  # MLflow's limit per batch
            self.client.log_batch(self.run_id, metrics=items[i:i + 1000])

    def step_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Metrics within an epoch (training loss every few steps): skipped while the store is
        failing, so that a store that does not answer costs no time per step; nothing of them
        is owed, the epoch's own metrics are what a rerun logs. The spans missed are said in
        the run's tag smoot.step_metrics_missing once the store answers (or at the run's end)."""
        if self.failing or not self.attempt(f"the step metrics of step {step}", self.log_metrics,
                                            metrics, step):
            if self._span_open:
                self.missing_steps[-1][1] = step
            else:
                self.missing_steps.append([step, step])
                self._span_open = True
            return
        self._note_missing_steps()

    def _note_missing_steps(self) -> None:
        """Once the store answers again: the run says which step metrics it lacks."""
        if not self._span_open:
            return
        spans = "; ".join(f"steps {a}-{b}" if a != b else f"step {a}" for a, b in self.missing_steps)
        self._span_open = not self.attempt(
            "the note of missing step metrics", self.set_tags,
            {"smoot.step_metrics_missing": f"{spans} (the tracking store did not answer; each "
                                           f"epoch's metrics are complete)"[:5000]})

    @contextlib.contextmanager
    def system_metrics(self, resumed: bool = False, interval_s: float = 10.0) -> Iterator[None]:
        """MLflow's own system metrics (CPU, memory, disk, network, GPU: `system/...`) of this
        process while the block runs; a resumed run continues its steps."""
        monitor = None
        try:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            with quiet_mlflow():
                monitor = SystemMetricsMonitor(self.run_id, sampling_interval=interval_s,
                                               resume_logging=resumed, tracking_uri=self.uri)
                monitor.start()
        except Exception as err:  # psutil missing, a store that does not answer: no reason to stop
            print(f"warning: no system metrics for MLflow run {self.run_id} ({first_line(err)})",
                  flush=True)
            monitor = None
        try:
            yield
        finally:
            if monitor is not None:
                with quiet_mlflow():
                    monitor.finish()

    def log_datasets(self, datasets: list[dict[str, str]]) -> None:
        """The data the run used, as MLflow dataset inputs: each {name, digest, source,
        source_type, context, profile}; `context` (training, test) tags the input."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        inputs = [DatasetInput(Dataset(d["name"], d["digest"], d["source_type"], d["source"],
                                       profile=d.get("profile")),
                               [InputTag("mlflow.data.context", d["context"])])
                  for d in datasets]
        self.client.log_inputs(self.run_id, datasets=inputs)

    def log_model(self, model, example, code_dir: str | None, requirements: list[str],
                  registered_name: str | None = None) -> None:
        """`model` as an MLflow PyTorch model of this run (signature and input example from
        `example`, a float32 numpy batch; `code_dir`, where given, travels with it, so loading
        it needs torch only), registered as `registered_name` when given. Its own URI
        (`models:/<model id>`) is kept in `model_uri`."""
        import mlflow
        import mlflow.pytorch
        import torch
        from mlflow.models import infer_signature

        with torch.no_grad():
            output = model(torch.from_numpy(example)).numpy()
        # the fluent API logs models into the active run: this one, ended by finish() later
        with _fluent_uri(self.uri), mlflow.start_run(run_id=self.run_id), quiet_mlflow(), \
                warnings.catch_warnings():
            # MLflow loads a TorchScript model back to check the input example, through
            # torch.load and the deprecated torch.jit.load: two warnings per run, not ours
            warnings.filterwarnings("ignore", "'torch.load' received a zip file", UserWarning)
            warnings.simplefilter("ignore", FutureWarning)
            info = mlflow.pytorch.log_model(model, name="model", input_example=example,
                                            signature=infer_signature(example, output),
                                            code_paths=[code_dir] if code_dir else None,
                                            pip_requirements=requirements,
                                            registered_model_name=registered_name,
                                            # a module back (eval(), Captum's gradients), not
                                            # an exported graph that refuses eval()
                                            serialization_format="pickle")
        self.model_uri = info.model_uri

    def set_tags(self, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, value)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def finish(self, status: str = "FINISHED") -> None:
        self._note_missing_steps()
        self.client.set_terminated(self.run_id, status=status)

    def finish_quietly(self, status: str) -> None:
        """finish(), while another error is on its way out: that error is the one to report."""
        try:
            self.finish(status)
        except Exception as err:
            print(f"warning: could not mark MLflow run {self.run_id} {status} "
                  f"({type(err).__name__})", flush=True)

    def attempt(self, what: str, call, *args, say=None) -> bool:
        """`call(*args)`, a tracking call that must not stop training: a store that does not
        answer (within the bounded timeouts) costs one warning line (through `say`, default
        print); False if it failed. The run folder keeps everything, and running the same
        command again logs what is missing."""
        try:
            with quiet_mlflow():
                call(*args)
        except Exception as err:  # requests', MLflow's, SQLAlchemy's errors alike
            if not self.failing:
                (say or (lambda line: print(line, flush=True)))(
                    f"warning: MLflow store {self.uri} did not take {what} ({first_line(err)}); "
                    f"training goes on, everything is kept in the run folder, and running the "
                    f"same command again logs what is missing")
            self.failing = True
            return False
        self.failing = False
        return True


def _existing_run(client, run_id: str):
    """The run, if it is in the store and not deleted."""
    try:
        run = client.get_run(run_id)
    except Exception:  # not in this store
        return None
    return None if run.info.lifecycle_stage == "deleted" else run


def _logged_steps(client, run_id: str) -> list[int]:
    return [m.step for m in client.get_metric_history(run_id, "test_accuracy")]


def logged_epochs(uri: str, run_id: str | None) -> list[int]:
    """The epochs a run has logged (none for a run not in the store); reading only."""
    if not run_id:
        return []
    with quiet_mlflow():
        client = _client(uri)
        return sorted(_logged_steps(client, run_id)) if _existing_run(client, run_id) else []


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
        query = " and ".join(f"tags.`{k}` = {_quoted(k, v)}" for k, v in (tags or {}).items())
        runs = client.search_runs([exp.experiment_id], filter_string=query,
                                  run_view_type=1, max_results=5000)  # ACTIVE_ONLY
    return [run.info.run_id for run in runs if run.info.status == "FINISHED"]


def _quoted(key: str, value: str) -> str:
    """A tag value as an MLflow filter literal: single-quoted, or double-quoted where it holds a
    single quote (MLflow's filter language has no escapes)."""
    if "`" in key:
        raise UserError(f"--tag {key}={value}: a tag name cannot hold a backtick")
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise UserError(f"--tag {key}={value}: MLflow cannot search for a value holding both ' and \"")


def registered_model_run(uri: str, source: str) -> str:
    """The run id behind a registered model, `models:/NAME/VERSION` or `models:/NAME@ALIAS`."""
    _existing_store(uri)
    client, rest = _client(uri), source[len("models:/"):]
    try:
        with quiet_mlflow():
            if "@" in rest:
                name, alias = rest.split("@", 1)
                version = client.get_model_version_by_alias(name, alias)
            else:
                name, _, number = rest.rpartition("/")
                version = client.get_model_version(name, number)
    except Exception:
        raise UserError(f"no registered model {source} in {uri}; give models:/NAME/VERSION or "
                        f"models:/NAME@ALIAS of a model registered there (train.py "
                        f"--register-model NAME)") from None
    if not version.run_id:
        raise UserError(f"registered model {source} was not logged by a run; give its run")
    return version.run_id


def try_download(uri: str, run_id: str, name: str, dest: Path) -> bool:
    """Download one artifact (file or folder) if the run has it."""
    try:
        _client(uri).download_artifacts(run_id, name, str(dest))
        return True
    except Exception:
        return False


def close_stopped_trials(uri: str, experiment: str, sweep_id: str, why: str = "ASHA") -> int:
    """Trials stopped by the scheduler (or by the sweep's own stop: `why`) never finished their
    MLflow run: mark them KILLED, with an end time."""
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return 0
    runs = client.search_runs([exp.experiment_id],
                              f"tags.sweep = '{sweep_id}' and attributes.status = 'RUNNING'")
    for run in runs:
        if run.data.tags.get("kind") != "sweep":
            client.set_tag(run.info.run_id, "stopped_by", why)
            client.set_terminated(run.info.run_id, "KILLED")
    return len(runs)
