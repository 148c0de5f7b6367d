"""runs/remote.py against a real S3-compatible server (moto, on 127.0.0.1): a run folder's files
published to their keys and fetched into another machine's cache, and the storage's failures
told as one line."""

import os
import time

import pytest

from smoot_dist.foundations.errors import UserError
from smoot_dist.foundations.uris import is_remote, store_problem
from smoot_dist.runs.remote import RemoteRuns, mirrored


@pytest.fixture
def s3(s3_server):
    return s3_server


@pytest.fixture
def uri(s3, request):
    """A runs root of this test's own: the session's server also holds the integration tests'
    runs (`bucket/runs` among them), and `latest_run` reads the whole prefix."""
    return s3.uri("bucket", f"unit-remote-runs/{request.node.name}")


@pytest.fixture
def home(s3, tmp_path, monkeypatch):
    """This test's machine: its own SMOOT_HOME, the server's credentials in the environment."""
    s3.export(monkeypatch)
    monkeypatch.setenv("SMOOT_HOME", str(tmp_path / "home-a"))
    return tmp_path


def _run_folder(folder):
    (folder / "evaluation" / "p1").mkdir(parents=True)
    (folder / "run.json").write_text('{"name": "r"}')
    (folder / "summary.json").write_text('{"epochs": []}')
    (folder / "model.pt").write_bytes(os.urandom(300_000))
    (folder / "evaluation" / "p1" / "metrics.json").write_text("{}")
    (folder / "run.lock").write_text("pid 1")
    (folder / "summary.json.tmp").write_text("half")
    (folder / "checkpoint_epoch_0001").mkdir()
    (folder / "checkpoint_epoch_0001" / "state.pt").write_bytes(b"x")


def test_what_a_run_folder_mirrors():
    assert is_remote("s3://b/runs") and is_remote("gs://b/r")
    assert not is_remote("/data/runs") and not is_remote("file:///data/runs") and not is_remote(None)
    assert mirrored("run.json") and mirrored("evaluation/p1/metrics.json")
    for rel in ("run.lock", "summary.json.tmp", "checkpoint_epoch_0001/state.pt",
                "checkpoint_2026-12-07_03-42-10.528610/x", "checkpoint_manager_snapshot.json"):
        assert not mirrored(rel), rel


def test_a_store_that_failed_is_told_apart_from_other_errors():
    gone = OSError("When uploading part for key 'runs/r/state.pt' in bucket 'b': AWS Error "
                   "NETWORK_CONNECTION during UploadPart operation: curlCode: 7, Could not "
                   "connect to server\nmore")
    assert store_problem(gone) == str(gone).splitlines()[0]
    assert store_problem(OSError("AWS Error ACCESS_DENIED during HeadBucket operation")) is None
    assert store_problem(OSError("[Errno 28] No space left on device")) is None
    assert store_problem(ValueError("curlCode: 7")) is None  # not an I/O error


def test_published_files_are_fetched_whole_on_another_machine(uri, home, monkeypatch):
    runs = RemoteRuns(uri)
    folder = runs.cache_folder("r")
    assert folder.is_relative_to(home / "home-a")
    _run_folder(folder)
    assert not runs.holds("r") and runs.latest_run("run.json") is None
    runs.publish("r", folder, "")  # the whole folder: only what a run mirrors
    assert runs.holds("r") and runs.latest_run("run.json") == "r"
    assert sorted(runs._files("r")) == ["evaluation/p1/metrics.json", "model.pt", "run.json",
                                        "summary.json"]

    monkeypatch.setenv("SMOOT_HOME", str(home / "home-b"))  # another machine, nothing local
    other = RemoteRuns(uri)
    fetched = other.fetch("r")
    assert fetched.is_relative_to(home / "home-b")
    got = sorted(p.relative_to(fetched).as_posix() for p in fetched.rglob("*") if p.is_file())
    assert got == ["evaluation/p1/metrics.json", "model.pt", "run.json", "summary.json"]
    for rel in got:
        assert (fetched / rel).read_bytes() == (folder / rel).read_bytes(), rel
    # fetched again with nothing new: nothing is downloaded (the cache keeps the objects' times)
    before = {rel: (fetched / rel).stat().st_mtime_ns for rel in got}
    other.fetch("r")
    assert {rel: (fetched / rel).stat().st_mtime_ns for rel in got} == before


def test_the_newer_side_wins_and_nothing_local_is_lost(uri, home, monkeypatch):
    runs = RemoteRuns(uri)
    folder = runs.cache_folder("r")
    _run_folder(folder)
    runs.publish("r", folder, "")
    # machine b goes on with the run: a newer summary reaches the store
    monkeypatch.setenv("SMOOT_HOME", str(home / "home-b"))
    b = RemoteRuns(uri)
    b.fetch("r")
    time.sleep(1.1)  # object stores keep whole seconds
    (b.cache_folder("r") / "summary.json").write_text('{"epochs": [1, 2]}')
    b.publish("r", b.cache_folder("r") / "summary.json", "summary.json")
    # back on machine a: its older copy is replaced by the store's
    monkeypatch.setenv("SMOOT_HOME", str(home / "home-a"))
    runs.fetch("r")
    assert (folder / "summary.json").read_text() == '{"epochs": [1, 2]}'
    # a file written here whose publish failed (newer than its object, or with none) is kept
    # and published by the next fetch
    time.sleep(1.1)
    (folder / "summary.json").write_text('{"epochs": [1, 2, 3]}')
    (folder / "evaluation" / "p2").mkdir()
    (folder / "evaluation" / "p2" / "metrics.json").write_text('{"p": 2}')
    runs.fetch("r")
    assert (folder / "summary.json").read_text() == '{"epochs": [1, 2, 3]}'
    monkeypatch.setenv("SMOOT_HOME", str(home / "home-c"))
    c = RemoteRuns(uri).fetch("r")
    assert (c / "summary.json").read_text() == '{"epochs": [1, 2, 3]}'
    assert (c / "evaluation" / "p2" / "metrics.json").read_text() == '{"p": 2}'


def test_storage_failures_are_one_line(s3, home, tmp_path):
    runs = RemoteRuns(s3.uri("no-such-bucket", "runs"))
    (tmp_path / "f.json").write_text("{}")
    with pytest.raises(UserError, match=r"publishing r/f\.json at --storage-path "
                                        r"s3://no-such-bucket/runs\?endpoint_override=.* failed "
                                        r"\(.*NO_SUCH_BUCKET.*\); check the storage"):
        runs.publish("r", tmp_path / "f.json", "f.json")
    down = RemoteRuns("s3://bucket/runs?endpoint_override=127.0.0.1:1&scheme=http")
    with pytest.raises(UserError, match="listing r/ at --storage-path .* failed"):
        down.fetch("r")
    with pytest.raises(UserError, match="--storage-path: cannot open s3://bucket/runs"):
        RemoteRuns("s3://bucket/runs?no_such_option=1")


def test_credentials_in_a_uri_are_never_shown(s3, home, tmp_path):
    runs = RemoteRuns(f"s3://KEYID:SECRETKEY@no-such-bucket/runs?endpoint_override="
                      f"{s3.endpoint}&scheme=http")
    (tmp_path / "f.json").write_text("{}")
    with pytest.raises(UserError) as err:
        runs.publish("r", tmp_path / "f.json", "f.json")
    assert "SECRETKEY" not in str(err.value) and "KEYID" not in str(err.value)
    assert "SECRETKEY" not in str(runs.cache_root)
