"""A training run's folder: the one module that knows the files inside it and reads/writes them.

    <runs root>/<run name>/
        run.json            name, config, MLflow run id: what a resume needs
        run.lock            held by the job that runs it (who: pid, host, start, command)
        config.yaml         the resolved experiment config (`--config` accepts it as is)
        checkpoint_epoch_<n>/   in-process runs: the checkpoints of the last two epochs
        checkpoint_<time>/      Ray runs with local storage: Ray Train's checkpoints
                                (each holds what training/checkpoint.py writes)
        summary.json, model.pt, mask_state.parquet, k_histogram.png    written at the end
        evaluation/<protocol id>/   one record per evaluation protocol (evaluation/record.py):
                            the closing one of training, and each of jobs/evaluate.py

The same names are the artifact paths of the run's MLflow run. Running the same command with the
same `--run-name` (or `--resume`) continues the run from its latest checkpoint, with the same
MLflow run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator
from urllib.parse import urlparse

import yaml

from ..config import JobConfig
from ..config.schema import RUN_NAME
from ..config.yaml_file import read_yaml
from ..foundations.catalog import dataset_label
from ..foundations.errors import UserError, shown
from ..foundations.files import disk_errors, file_lock, fsync, write_json, write_text
from ..foundations.home import runs_root
from ..foundations.uris import is_remote, without_credentials

if TYPE_CHECKING:  # imported where a storage path is remote: pyarrow, for those jobs only
    from .remote import RemoteRuns

RUN_FILE = "run.json"
LOCK_FILE = "run.lock"
CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.json"
MODEL_FILE = "model.pt"
MASK_STATE_FILE = "mask_state.parquet"
K_HISTOGRAM_FILE = "k_histogram.png"
CHECKPOINT_DIR = "checkpoint"
INCOMPLETE_SUFFIX = ".tmp"
DAMAGED_SUFFIX = ".damaged"  # a checkpoint that failed its check, kept as evidence, never pruned
# Ray Train's record of its checkpoints (local storage): a restarted run moves it aside
RAY_SNAPSHOT_FILE = "checkpoint_manager_snapshot.json"
EVALUATION_DIR = "evaluation"
# Settings a resumed run may change; everything else must match the original run.
# Settings a run may continue under with another value: none changes what an epoch computes
# from a checkpoint's state, only where or how fast (or for how long) it runs.
# The run section as a run records it: how it ran (so that `--config RUN/config.yaml` and
# `--resume` run it as it ran), without this machine's paths (storage, Ray address, summary
# file), the run's own name or the command's one-off switches (resume, restart, progress bars).
PORTABLE_RUN = ("workers", "max_workers", "resize_check_s", "use_gpu", "max_failures")


def recorded_config(cfg: JobConfig) -> dict[str, dict[str, Any]]:
    """The config a run folder keeps (config.yaml, run.json): the experiment and how it ran."""
    run = cfg.to_dict(("run",))["run"]
    return {**cfg.to_dict(), "run": {k: run[k] for k in PORTABLE_RUN}}


# A run has one config: run.json's, with its sha256 beside it. config.yaml is its copy for
# `--config RUN/config.yaml` (and for a run known only to MLflow, which stores no run.json), and
# carries the same digest in its first line; every tool that reads a run's config checks both.
CONFIG_DIGEST = "config_sha256"
_DIGEST_LINE = "# " + CONFIG_DIGEST + ": "


def config_digest(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def first_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """`section.key was X, now Y` for the first setting that differs; None if none does."""
    for section in list(new) + [s for s in old if s not in new]:
        before_s, now_s = old.get(section), new.get(section)
        before_s = before_s if isinstance(before_s, dict) else {}
        now_s = now_s if isinstance(now_s, dict) else {}
        for key in list(now_s) + [k for k in before_s if k not in now_s]:
            if before_s.get(key) != now_s.get(key):
                return f"{section}.{key} was {before_s.get(key)!r}, now {now_s.get(key)!r}"
    return None


def recorded_run_name(name: Any, source: str) -> str:
    """A run name read from a record (run.json, an MLflow run), checked as --run-name is before
    it names a folder: '../../x' is no name."""
    if not isinstance(name, str) or RUN_NAME.fullmatch(name) is None:
        raise UserError(f"the run name {shown(name)} recorded in {source} cannot name a folder "
                        f"(1 to 100 letters, digits, '.', '_' or '-', starting with a letter or "
                        f"digit); rename the run there, or give --output-dir")
    return name


def _yaml_with_digest(path: Path) -> tuple[dict[str, Any], str | None]:
    """A run's config.yaml and the digest its first line records (None: a file from before
    digests were recorded)."""
    config = read_yaml(path)
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    return config, first[len(_DIGEST_LINE):].strip() if first.startswith(_DIGEST_LINE) else None


def _edited(path: Path, what: str | None) -> UserError:
    return UserError(f"{path} was edited" + (f" ({what})" if what else "") + ": it no longer "
                     f"matches the {CONFIG_DIGEST} it was written with; a run has one config: "
                     f"restore the file (train a new run for another config)")


def read_config_yaml(path: Path) -> dict[str, Any]:
    """A run's config.yaml (a run known only to MLflow has no run.json), checked against the
    digest in its first line."""
    config, digest = _yaml_with_digest(path)
    if digest is not None and digest != config_digest(config):
        raise _edited(path, None)
    return config


RESUMABLE_CHANGES = {("train", "epochs"), ("train", "device"), ("train", "eval_batch_size"),
                     ("data", "loader"), ("data", "data_cpus"),
                     ("train", "eval_images")}


def is_checkpoint_name(name: str) -> bool:
    """Whether a folder so named is a checkpoint to resume from: not an interrupted write
    (`.tmp`), a damaged one kept aside (`.damaged`, `.damaged-2`, ...) or one replaced."""
    return (name.startswith(CHECKPOINT_DIR) and not name.endswith(INCOMPLETE_SUFFIX)
            and DAMAGED_SUFFIX not in name and ".replaced-" not in name)


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.config_path = self.path / CONFIG_FILE
        self.summary_path = self.path / SUMMARY_FILE
        self.model_path = self.path / MODEL_FILE
        self.mask_state_path = self.path / MASK_STATE_FILE
        self.k_histogram_path = self.path / K_HISTOGRAM_FILE
        # One folder per evaluation protocol (evaluation/record.py knows what is inside).
        self.evaluation_dir = self.path / EVALUATION_DIR
        self.ray_snapshot_path = self.path / RAY_SNAPSHOT_FILE

    # -- identity and config --------------------------------------------------------------
    def has_record(self) -> bool:
        return (self.path / RUN_FILE).is_file()

    def read_record(self) -> dict[str, Any]:
        path = self.path / RUN_FILE
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise UserError(f"run record {path} is damaged ({type(err).__name__}); restore it from "
                            f"the run's MLflow run or move the folder away") from None
        if not isinstance(record, dict) or not isinstance(record.get("config", {}), dict):
            raise UserError(f"run record {path} is damaged (not a run record: "
                            f"{type(record).__name__}); restore it from the run's MLflow run or "
                            f"move the folder away")
        return record

    def read_config(self) -> dict[str, Any]:
        """The run's one config (run.json's), checked against its digest, and config.yaml
        against the same; an edit of either is refused in one line naming what differs."""
        record = self.read_record()
        config = record.get("config") or {}
        json_ok = record.get(CONFIG_DIGEST) in (None, config_digest(config))
        if not self.config_path.is_file():
            if not json_ok:
                raise _edited(self.path / RUN_FILE, None)
            return config
        yaml_config, digest = _yaml_with_digest(self.config_path)
        yaml_ok = digest in (None, config_digest(yaml_config))
        if not json_ok:  # named against config.yaml where that one is intact
            raise _edited(self.path / RUN_FILE, first_difference(yaml_config, config)
                          if yaml_ok else None)
        if yaml_config != config:
            raise _edited(self.config_path, first_difference(config, yaml_config))
        return config

    def write_record(self, record: dict[str, Any], cfg: JobConfig) -> dict[str, Any]:
        """Write run.json (the record, with cfg's config and its digest) and config.yaml;
        returns the record as written."""
        config = recorded_config(cfg)
        digest = config_digest(config)
        record = {**record, "config": config, CONFIG_DIGEST: digest}
        write_json(self.path / RUN_FILE, record)
        write_text(self.config_path, f"{_DIGEST_LINE}{digest}\n# (the run's config, as run.json "
                                     f"holds it; `--config` of this file trains a new run)\n"
                                     + yaml.safe_dump(config, sort_keys=False))
        return record

    def read_summary(self) -> dict[str, Any] | None:
        """The run's summary; None while the run has not finished."""
        if not self.summary_path.is_file():
            return None
        try:
            summary = json.loads(self.summary_path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise UserError(f"{self.summary_path} is damaged ({type(err).__name__}); run the "
                            f"training command of this run again to rewrite it") from None
        if not isinstance(summary, dict):
            raise UserError(f"{self.summary_path} is damaged (not a JSON object); run the "
                            f"training command of this run again to rewrite it")
        return summary

    # -- checkpoints ------------------------------------------------------------------------
    def checkpoints(self) -> list[Path]:
        """Every checkpoint folder: the in-process `checkpoint_epoch_<n>/` and Ray Train's
        `checkpoint_<time>/` (and `checkpoint/` of runs from before 0.2); a run resumes from
        either kind on either path. Folders of an interrupted write (`.tmp`), and damaged
        checkpoints kept aside (`.damaged`), are not listed."""
        return sorted(p for p in self.path.glob(CHECKPOINT_DIR + "*")
                      if p.is_dir() and is_checkpoint_name(p.name))

    def set_aside(self, checkpoint: Path) -> Path:
        """Keep a damaged checkpoint as evidence, out of the run's way: `<name>.damaged`, which
        nothing prunes. The run's own (`checkpoint_epoch_<n>`) is renamed; Ray Train's is copied,
        since Ray keeps its own record of it (and prunes the original as it pleases)."""
        ours = checkpoint.name.startswith(f"{CHECKPOINT_DIR}_epoch_")
        kept = checkpoint.with_name(checkpoint.name + DAMAGED_SUFFIX)
        if not ours and kept.exists():  # this Ray checkpoint was copied aside by an earlier run
            return kept
        n = 2
        while kept.exists():
            kept, n = checkpoint.with_name(f"{checkpoint.name}{DAMAGED_SUFFIX}-{n}"), n + 1
        with disk_errors(self.path, f"a copy of the damaged checkpoint {checkpoint.name}"):
            if ours:
                checkpoint.rename(kept)
            else:
                shutil.copytree(checkpoint, kept)
        fsync(self.path)
        return kept

    def write_checkpoint(self, epoch: int, write: Callable[[Path], Any]) -> Path:
        """Write the in-process checkpoint of `epoch` beside the older ones, then publish it
        with one atomic rename; only then prune. At every instant the newest completed epoch is
        on disk, whatever is killed when (an interrupted write leaves only a `.tmp` folder). A
        disk that cannot take it is one line; the older checkpoints stay as they were."""
        final = self.path / f"{CHECKPOINT_DIR}_epoch_{epoch:04d}"
        tmp = final.with_name(final.name + INCOMPLETE_SUFFIX)
        shutil.rmtree(tmp, ignore_errors=True)  # an interrupted write of this epoch
        kept = (f"the checkpoint of epoch {epoch - 1} is kept" if epoch > 1
                else "no epoch was completed")
        try:
            with disk_errors(self.path, f"the checkpoint of epoch {epoch}", kept):
                write(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if final.exists():  # this epoch again (the run resumed from before it): the older copy
            from ..training.checkpoint import completed_epochs

            if completed_epochs(final) < 0:
                self.set_aside(final)
            else:
                final.rename(final.with_name(f"{final.name}.replaced-{int(time.time())}"))
        tmp.rename(final)
        fsync(self.path)  # the rename, durable
        self._prune(keep=final)
        return final

    def _prune(self, keep: Path) -> None:
        """Drop in-process checkpoints older than the newest two (as Ray keeps two), and what
        interrupted writes left, and intact copies of an epoch written again; damaged
        checkpoints (kept aside or not) and Ray's checkpoints are left alone."""
        from ..training.checkpoint import completed_epochs

        own = sorted(p for p in self.path.glob(f"{CHECKPOINT_DIR}_epoch_*") if p.is_dir())
        intact = [p for p in own if p.suffix == "" and completed_epochs(p) >= 0]
        stale = [p for p in own if DAMAGED_SUFFIX not in p.name and
                 (p.name.endswith(INCOMPLETE_SUFFIX) or ".replaced-" in p.name)]
        for path in [p for p in intact if p != keep][:-1] + stale:
            shutil.rmtree(path, ignore_errors=True)


@dataclass
class RunSpec:
    name: str
    folder: RunFolder  # local: config, run record, final artifacts, in-process checkpoints
    storage_path: str  # where Ray Train keeps checkpoints (a local folder or a URI)
    resumed: bool = False
    record: dict[str, Any] = field(default_factory=dict)
    # remote storage: where the run's folder lives (`folder` is then its local cache)
    remote: RemoteRuns | None = None

    @property
    def mlflow_run_id(self) -> str | None:
        return self.record.get("mlflow_run_id")

    def publish(self, *paths: Path) -> None:
        """Files (or folders) of the run folder, complete, to the remote storage it lives in;
        nothing to do for a run in a local folder."""
        if self.remote is not None:
            for path in paths:
                self.remote.publish(self.name, path,
                                    Path(path).relative_to(self.folder.path).as_posix())


def _latest_run(root: Path) -> str:
    records = sorted(root.glob(f"*/{RUN_FILE}"), key=lambda p: p.stat().st_mtime)
    if not records:
        raise UserError(f"--resume found no run under {root}; pass --run-name or start a new run")
    return records[-1].parent.name


def _first_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The first setting of `new` (the experiment) that a resume may not change and `old` (the
    run's config) has otherwise. A setting newer than the run (absent from its record) counts
    as recorded at its default."""
    defaults = JobConfig().to_dict()
    for section, values in new.items():
        for key, value in values.items():
            if (section, key) in RESUMABLE_CHANGES:
                continue
            if key not in (old.get(section) or {}) and value == defaults.get(section, {}).get(key):
                continue
            if (section, key) == ("train", "precision") and value == "auto":
                continue  # auto continues in the precision the run recorded (train_job)
            values_before = old.get(section)
            before = values_before.get(key) if isinstance(values_before, dict) else None
            if before != value:
                return f"{section}.{key} was {before!r}, now {value!r}"
    return None


def storage_location(cfg: JobConfig) -> tuple[str, Path | None]:
    """(where Ray Train keeps checkpoints, the local root of the run folders). A local folder or
    a file:// URI is both; a remote URI (s3://...) keeps the checkpoints there and the run
    folders (config, record, final files) under the local runs root."""
    return storage_of(cfg.run.storage_path)


def storage_of(storage_path: str | None) -> tuple[str, Path | None]:
    storage = storage_path or str(runs_root())
    if storage.startswith("file://"):
        storage = urlparse(storage).path
    if is_remote(storage):
        return storage, None
    local = Path(storage).expanduser().resolve()
    return str(local), local


def _runs_root(storage: str, local: Path | None) -> tuple[Path, RemoteRuns | None]:
    """(the local root of the run folders, the remote storage they live in or None): a remote
    storage path keeps them in its cache on this machine."""
    if local is not None:
        return local, None
    if not is_remote(storage):
        return runs_root(), None
    from .remote import RemoteRuns

    remote = RemoteRuns(storage)
    return remote.cache_root, remote


def _latest_name(root: Path, remote: RemoteRuns | None) -> str:
    if remote is None:
        return _latest_run(root)
    name = remote.latest_run(RUN_FILE)
    if name is None:
        raise UserError(f"--resume found no run under {without_credentials(remote.uri)}; pass "
                        f"--run-name or start a new run")
    # read off an object's key: checked as a name before it becomes a folder
    return recorded_run_name(name, f"the object keys under {without_credentials(remote.uri)}")


def folder_on_storage(name: str, storage_path: str) -> tuple[RunFolder, RemoteRuns]:
    """A run on remote storage, named: its folder fetched into this machine's cache."""
    from .remote import RemoteRuns

    remote = RemoteRuns(storage_path)
    folder = RunFolder(remote.fetch(recorded_run_name(name, "the command line")))
    if not folder.has_record():
        raise UserError(f"no run named {name!r} under --storage-path "
                        f"{without_credentials(storage_path)}")
    return folder, remote


def resumed_layer(storage_path: str | None, name: str | None) -> tuple[str, dict[str, Any]]:
    """(its source, the config layer) of `--resume [RUN]`: the config the run recorded (the
    latest run under the storage root, or the one named), its own name included, under which
    the command line's flags go. A run on remote storage is fetched into this machine's cache
    first."""
    root, remote = _runs_root(*storage_of(storage_path))
    name = name or _latest_name(root, remote)
    if remote is not None:
        remote.fetch(recorded_run_name(name, "--resume"))
    folder = RunFolder(root / name)
    if not folder.has_record():
        where = without_credentials(remote.uri) if remote is not None else root
        raise UserError(f"--resume: no run named {name!r} under {where}")
    config = dict(folder.read_config())
    config["run"] = {**config.get("run", {}), "run_name": name, "resume": True}
    uri = folder.read_record().get("tracking_uri")
    if uri:  # the run's own MLflow store (a flag still wins: a layer under the command line)
        config["tracking"] = {"uri": uri}
    return str(folder.path / RUN_FILE), config


def locate_run(cfg: JobConfig, name: str | None = None) -> RunSpec:
    """The folder of the run `cfg.run` names (or `name`): a new one, or one to continue."""
    resume = cfg.run.resume
    storage, local = storage_location(cfg)
    local_root, remote = _runs_root(storage, local)
    name = name or cfg.run.run_name
    if resume and not name:
        name = _latest_name(local_root, remote)
    name = name or (f"{dataset_label(cfg.data.dataset)}-{cfg.method.name}-"
                    f"{time.strftime('%Y%m%d-%H%M%S')}")
    folder = RunFolder(local_root / name)
    if remote is not None:
        remote.fetch(name)  # the run's files, as another machine may have left them
    where = without_credentials(storage) if remote is not None else local_root
    if not folder.has_record():
        if resume:
            raise UserError(f"--resume: no run named {name!r} under {where}")
        if remote is not None and remote.holds(name):
            raise UserError(f"{where} holds objects under {name}/ but no run record: they are "
                            f"not a run this tool can continue, and it never writes over them; "
                            f"choose another --run-name")
        return RunSpec(name, folder, storage, remote=remote)
    record = folder.read_record()
    diff = _first_difference(folder.read_config(), cfg.to_dict())
    if diff:
        raise UserError(f"run {name!r} exists with another config ({diff}); continue it with the "
                        f"same settings, or choose a new --run-name")
    return RunSpec(name, folder, storage, resumed=True, record=record, remote=remote)


def write_run_record(spec: RunSpec, cfg: JobConfig, **fields: Any) -> None:
    spec.record = spec.folder.write_record({**spec.record, "name": spec.name,
                                            "storage_path": without_credentials(spec.storage_path),
                                            **fields}, cfg)
    spec.publish(spec.folder.path / RUN_FILE, spec.folder.config_path)


def restart_run(spec: RunSpec) -> RunSpec:
    """The run trained again from epoch 1 (--restart): Ray Train's record of the checkpoints
    that are gone is moved aside, and the run record forgets its MLflow run (the caller opened a
    new one; the earlier one stays in the store)."""
    snapshot = spec.folder.ray_snapshot_path
    if snapshot.is_file():
        snapshot.rename(snapshot.with_name(f"{snapshot.name}.restarted-{int(time.time())}"))
    earlier = spec.record.get("mlflow_run_id")
    print(f"restarting run {spec.name} from epoch 1" + (f" (its earlier MLflow run {earlier} is "
                                                        f"kept)" if earlier else ""), flush=True)
    record = {k: v for k, v in spec.record.items() if k not in ("mlflow_run_id", "tracking_uri")}
    record["restarts"] = spec.record.get("restarts", []) + [
        {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "earlier_mlflow_run_id": earlier}]
    return RunSpec(spec.name, spec.folder, spec.storage_path, resumed=False, record=record,
                   remote=spec.remote)


@contextlib.contextmanager
def lock_run(spec: RunSpec) -> Iterator[None]:
    """Hold the run folder for this job's life: another job with the same run name is refused
    with one line while this one runs. The operating system drops the lock when this process
    ends, however it ends, so a lock left by a dead job is simply taken over."""
    path = spec.folder.path / LOCK_FILE
    with contextlib.ExitStack() as stack:
        try:
            f = stack.enter_context(file_lock(path, wait=False))
        except BlockingIOError:
            try:
                holder = json.loads(path.read_text())
                who = (f"pid {holder['pid']} on {holder['host']}, started "
                       f"{holder['started']}: {holder['command']}")
            except (OSError, ValueError, KeyError, TypeError):
                who = "it is starting"
            raise UserError(f"run {spec.name!r} is in use by another job ({who}); wait for it to "
                            f"end, or choose another --run-name") from None
        f.seek(0)
        f.truncate()
        f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                            "command": " ".join(sys.argv)[:300]}))
        f.flush()
        yield
