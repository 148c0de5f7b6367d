"""Shared fixtures. Real data is laid out by scripts/setup.sh (README's test command)."""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
import torch

from tests.helpers.s3_server import start_s3_server

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

# One core's worth of threads per pytest-xdist worker, here and in every job a test starts (the
# variable is inherited): two workers of 2 threads each on 2 cores made a pair of jobs 1.5x
# slower than with 1 each (138 s against 92 s, measured side by side), OpenMP's threads
# spinning against each other. A value the user set is kept.
_THREADS = max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
os.environ.setdefault("OMP_NUM_THREADS", str(_THREADS))
torch.set_num_threads(min(2, int(os.environ["OMP_NUM_THREADS"])))


def pytest_configure(config) -> None:
    """Keep the order tests/integration/conftest.py gives the pytest-xdist groups (the Ray group
    first: the longest unit of work starts at once). pytest-xdist 3.8 sorts a `loadgroup` run's
    groups by test count unless told `--no-loadscope-reorder`; it did here, and the Ray group then
    started anywhere from 86 s to 7 minutes in, on either worker, and the suite's time with it.
    Set here (this file is loaded in the controlling process, which schedules) so that README's
    command stays as it is."""
    if hasattr(config.option, "loadscopereorder"):  # only with pytest-xdist installed
        config.option.loadscopereorder = False


@pytest.fixture(scope="session", autouse=True)
def private_home(tmp_path_factory) -> Iterator[Path]:
    """$SMOOT_HOME for every job the tests start, unless a test gives its own: a folder of this
    session's, never the user's ~/smoot_dist, and never shared by two pytest-xdist workers (a
    job left on the default home would otherwise track into one MLflow store from both)."""
    home = tmp_path_factory.mktemp("smoot_home")
    with pytest.MonkeyPatch.context() as patch:  # the user's own value comes back after
        patch.setenv("SMOOT_HOME", str(home))
        yield home


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """An S3-compatible server (moto) on 127.0.0.1 with a bucket `bucket`, for the session."""
    server = start_s3_server(tmp_path_factory.mktemp("s3"))
    server.make_bucket("bucket")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def real_data_root() -> Path:
    """The prepared data directory; the tests fail (not skip) if setup did not prepare it."""
    from smoot_dist.data.paths import data_root
    from smoot_dist.data.prepare import is_prepared
    from smoot_dist.foundations.catalog import DATASETS

    root = data_root()
    for name in ("mnist", "fashion_mnist"):
        assert is_prepared(DATASETS[name], root), (
            f"{name} is not prepared under {root}: run scripts/setup.sh "
            f"(or python jobs/prepare_data.py {name})")
    return root


@functools.cache
def _empty_store() -> Path:
    """An empty MLflow SQLite store, made by MLflow once a session (removed at exit)."""
    from mlflow.tracking import MlflowClient

    made = Path(tempfile.mkdtemp(prefix="smoot-empty-store-")) / "mlflow.db"
    MlflowClient(f"sqlite:///{made}").search_experiments()  # creates the tables
    atexit.register(shutil.rmtree, made.parent, True)
    return made


def mlflow_store(db: Path) -> str:
    """The URI of a new, empty MLflow SQLite store at `db`, for tests whose subject is not how a
    store comes to be. MLflow makes a store's tables by running every schema migration, about
    2 s each time on 2 cores; this copies the empty store MLflow made once this session."""
    assert not db.exists(), f"{db} exists: a store is made once, then named by its URI"
    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_empty_store(), db)
    return f"sqlite:///{db}"


def run_job(script: str, *args: str, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """Run one of jobs/*.py (or another script, by a path relative to jobs/) as a user would."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([PYTHON, str((REPO / "jobs" / script).resolve()), *args], capture_output=True,
                          text=True, env=full_env, timeout=timeout, cwd=str(REPO))


def expect_one_line(r: subprocess.CompletedProcess, message: str) -> None:
    """A user error as the CLI must report it: exit code 2, one `error: ` line on stderr that
    holds `message`, and no traceback anywhere."""
    assert r.returncode == 2, r.stdout[-1500:] + r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-2000:]
    assert message in lines[0], lines[0]
    assert "Traceback" not in r.stdout + r.stderr


def evaluation_record(run_dir, *, closing: bool = False) -> dict:
    """The one evaluation record (metrics.json) a run folder holds besides (or, `closing`: of)
    the training run's closing evaluation."""
    records = [json.loads(p.read_text()) for p in sorted(Path(run_dir, "evaluation").glob("*/metrics.json"))
               if p.parent.name.startswith("closing-") == closing]
    assert len(records) == 1, [r["protocol_id"] for r in records]
    return records[0]
