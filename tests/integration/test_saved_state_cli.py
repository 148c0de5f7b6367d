"""Nothing saved is ever lost, nothing impossible hangs (in-process runs, as a user runs them):
damaged checkpoints, concurrent jobs on one run folder or one fresh store, storage and output
paths, and inputs that used to end in a traceback."""

import json
import os
import shutil
import subprocess
import time

import pytest
import torch
from mlflow.tracking import MlflowClient

from tests.conftest import PYTHON, REPO, expect_one_line, run_job
from tests.helpers.s3_server import start_s3_server
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration


def _args(tmp_path, *extra):
    return ["--workers", "0", "--train-subset", "200", "--test-subset", "100", "--no-progress",
            "--storage-path", str(tmp_path / "runs"), *extra]


def _train(tmp_path, *args, env=None):
    return run_job("train.py", *_args(tmp_path, *args),
                   env={"SMOOT_HOME": str(tmp_path / "home"), **(env or {})})


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _statuses(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("smoot_dist")
    return [] if exp is None else [r.info.status for r in client.search_runs([exp.experiment_id])]


# -- damaged checkpoints (items 1, 2, 10) --------------------------------------------------------
@pytest.fixture(scope="module")
def one_epoch_run(real_data_root, tmp_path_factory):
    """A finished untracked run of one epoch (its only checkpoint), named x."""
    root = tmp_path_factory.mktemp("one_epoch")
    first = _train(root, "--epochs", "1", "--run-name", "x", "--no-tracking")
    assert first.returncode == 0, first.stderr[-2000:]
    return root / "runs" / "x"


@pytest.mark.parametrize("damage,reason", [
    (lambda c: (c / "history.json").unlink(), "history.json is missing"),
    (lambda c: (c / "history.json").write_text("{not json"), "history.json is not valid JSON"),
    (lambda c: (c / "mask_state.parquet").unlink(), "mask_state.parquet is missing"),
    (lambda c: torch.save({}, c / "state.pt"), "state.pt was altered or truncated"),
])
@pytest.mark.slow
def test_a_damaged_only_checkpoint_stops_the_run_and_is_not_touched(one_epoch_run, tmp_path,
                                                                    damage, reason):
    run = tmp_path / "runs" / "x"
    shutil.copytree(one_epoch_run, run)  # each damage on a copy of one run
    damage(run / "checkpoint_epoch_0001")
    before = _files(run)
    r = _train(tmp_path, "--epochs", "2", "--run-name", "x", "--no-tracking")
    expect_one_line(r, f"checkpoint {run / 'checkpoint_epoch_0001'} is damaged ({reason}")
    assert "no older intact checkpoint; nothing was changed" in r.stderr
    assert _files(run) == before


@pytest.mark.slow
def test_the_run_resumes_from_the_newest_intact_checkpoint_and_says_so(real_data_root, tmp_path):
    first = _train(tmp_path, "--epochs", "2", "--run-name", "x", "--no-tracking")
    assert first.returncode == 0, first.stderr[-2000:]
    run = tmp_path / "runs" / "x"
    (run / "checkpoint_epoch_0002" / "history.json").unlink()
    r = _train(tmp_path, "--epochs", "3", "--run-name", "x", "--no-tracking",
               "--summary-json", str(tmp_path / "s.json"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert (f"warning: skipping damaged checkpoint checkpoint_epoch_0002 (history.json is missing); "
            f"kept as {run / 'checkpoint_epoch_0002.damaged'}; resuming from checkpoint_epoch_0001 "
            f"(epoch 1)") in r.stdout
    summary = json.loads((tmp_path / "s.json").read_text())
    assert [e["epoch"] for e in summary["epochs"]] == [1, 2, 3]
    assert [r["epoch"] for r in summary["resumes"]] == [1]


# -- concurrent jobs (items 5, 6) ---------------------------------------------------------
def _start(tmp_path, log, *args):
    return subprocess.Popen([PYTHON, str(REPO / "jobs" / "train.py"), *_args(tmp_path, *args)],
                            stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO),
                            env={**os.environ, "SMOOT_HOME": str(tmp_path / "home")})


@pytest.mark.slow
def test_a_second_job_on_a_running_run_is_refused_and_the_first_is_unharmed(real_data_root, tmp_path):
    # two epochs: the second job is refused while the first trains its second
    args = ("--epochs", "2", "--train-subset", "3000", "--run-name", "shared",
            "--summary-json", str(tmp_path / "s.json"))
    with open(tmp_path / "a.log", "w") as log:
        first = _start(tmp_path, log, *args)
        deadline = time.time() + 120
        while "epoch 1/2" not in (tmp_path / "a.log").read_text():
            assert first.poll() is None and time.time() < deadline, (tmp_path / "a.log").read_text()
            time.sleep(0.2)
        second = _train(tmp_path, *args)
        first.wait(timeout=300)
    expect_one_line(second, f"run 'shared' is in use by another job (pid {first.pid} on ")
    assert first.returncode == 0, (tmp_path / "a.log").read_text()[-2000:]
    summary = json.loads((tmp_path / "s.json").read_text())
    client = MlflowClient(summary["mlflow"]["tracking_uri"])
    assert _statuses(tmp_path) == ["FINISHED"]  # one MLflow run for the folder
    steps = [m.step for m in client.get_metric_history(summary["mlflow"]["run_id"], "test_accuracy")]
    assert sorted(steps) == [1, 2]  # each epoch once


@pytest.mark.slow
def test_two_jobs_started_together_one_folder(real_data_root, tmp_path):
    with open(tmp_path / "a.log", "w") as a, open(tmp_path / "b.log", "w") as b:
        # Long enough (an epoch of 3000 images and the closing evaluation: over 10 s, against
        # the second or two between two jobs' start-ups) that the loser meets a running winner.
        jobs = [_start(tmp_path, log, "--epochs", "1", "--train-subset", "3000", "--run-name", "same")
                for log in (a, b)]
        codes = sorted(job.wait(timeout=300) for job in jobs)
    logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    assert codes == [0, 2], logs[-3000:]
    assert "run 'same' is in use by another job" in logs
    assert _statuses(tmp_path) == ["FINISHED"]


@pytest.mark.slow
def test_two_jobs_starting_on_a_fresh_sqlite_store_are_both_recorded(real_data_root, tmp_path):
    with open(tmp_path / "a.log", "w") as a, open(tmp_path / "b.log", "w") as b:
        jobs = [_start(tmp_path, log, "--epochs", "1", "--run-name", name)
                for log, name in ((a, "one"), (b, "two"))]
        codes = [job.wait(timeout=300) for job in jobs]
    logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    assert codes == [0, 0] and "Traceback" not in logs, logs[-3000:]
    assert _statuses(tmp_path) == ["FINISHED", "FINISHED"]


# -- storage and output paths (items 7, 8) ------------------------------------------------------
def test_file_uri_storage_works_in_process(real_data_root, tmp_path):
    r = run_job("train.py", "--workers", "0", "--train-subset", "200", "--test-subset", "100",
                "--epochs", "1", "--no-tracking", "--run-name", "u",
                "--storage-path", (tmp_path / "elsewhere").as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "elsewhere" / "u" / "summary.json").is_file()
    assert json.loads((tmp_path / "elsewhere" / "u" / "run.json").read_text())["storage_path"] == \
        str(tmp_path / "elsewhere")


@pytest.mark.slow
def test_remote_storage_is_refused_in_process_and_checked_before_ray(tmp_path):
    r = _train(tmp_path, "--storage-path", "s3://bucket/runs", "--no-tracking")
    expect_one_line(r, "--storage-path s3://bucket/runs is remote, and a run in this process")
    # An S3 endpoint that does not answer: refused before Ray starts (no Ray address is given,
    # so a Ray start would be the next step).
    uri = f"s3://bucket/runs?endpoint_override=127.0.0.1:{free_port()}&scheme=http"
    r = run_job("train.py", "--workers", "1", "--storage-path", uri, "--no-tracking",
                env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y",
                     "AWS_EC2_METADATA_DISABLED": "true", "SMOOT_HOME": str(tmp_path / "home")},
                timeout=120)
    expect_one_line(r, f"--storage-path {uri} is not reachable")
    assert "Ray:" not in r.stdout


@pytest.mark.slow
def test_a_missing_bucket_or_refused_credentials_stop_before_ray(s3_server, tmp_path):
    uri = s3_server.uri("no-such-bucket")
    r = run_job("train.py", "--workers", "1", "--storage-path", uri, "--no-tracking",
                env={**s3_server.env, "SMOOT_HOME": str(tmp_path / "home")}, timeout=120)
    expect_one_line(r, f"--storage-path {uri}: its bucket 'no-such-bucket' does not exist")
    assert "Ray:" not in r.stdout and not (tmp_path / "home").exists()
    # a server that checks credentials and knows none of these: told as such, never shown
    strict = start_s3_server(tmp_path, check_credentials=True)
    try:
        uri = strict.uri("bucket")
        r = run_job("train.py", "--workers", "1", "--storage-path", uri, "--no-tracking",
                    env={**strict.env, "SMOOT_HOME": str(tmp_path / "home")}, timeout=120)
    finally:
        strict.stop()
    expect_one_line(r, f"--storage-path {uri} refused this machine's credentials")
    assert strict.env["AWS_SECRET_ACCESS_KEY"] not in r.stdout + r.stderr
    assert "Ray:" not in r.stdout and not (tmp_path / "home").exists()


@pytest.mark.slow
def test_unusable_output_paths_are_refused_before_anything_exists(tmp_path):
    (tmp_path / "afile").write_text("x")
    r = _train(tmp_path, "--storage-path", str(tmp_path / "afile" / "runs"))
    expect_one_line(r, f"{tmp_path / 'afile'} is a file, not a folder")
    r = _train(tmp_path, "--summary-json", str(tmp_path))
    expect_one_line(r, f"--summary-json {tmp_path} is a folder")
    r = _train(tmp_path, "--summary-json", str(tmp_path / "afile" / "s.json"))
    expect_one_line(r, f"{tmp_path / 'afile'} is a file, not a folder")
    assert not (tmp_path / "runs").exists() and _statuses(tmp_path) == []


@pytest.mark.slow
def test_a_failure_after_the_mlflow_run_exists_marks_it_failed(real_data_root, tmp_path):
    r = _train(tmp_path, "--epochs", "1", "--lr", "1e30", "--train-subset", "1000")
    expect_one_line(r, "the loss became NaN in epoch 1")
    assert _statuses(tmp_path) == ["FAILED"]


# -- one line, never a traceback (items 10, 11) -------------------------------------------------
@pytest.mark.parametrize("args,message", [
    (["--run-name", "a" * 300], "cannot name a run folder"),
    (["--run-name", ""], "--run-name '' cannot name a run folder"),
    (["--run-name", "grüße", "--workers", "2"], "--run-name 'grüße' cannot name a run folder"),
    (["--device", "cuda"], "--device cuda was asked for but no CUDA GPU is visible"),
])
def test_names_and_devices_are_refused_before_anything_exists(real_data_root, tmp_path, args, message):
    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    expect_one_line(_train(tmp_path, *args), message)
    assert not (tmp_path / "runs").exists() and _statuses(tmp_path) == []


def test_a_config_file_that_is_not_utf8(tmp_path):
    (tmp_path / "c.yaml").write_bytes(b"method:\n  beta: \xe9\n")
    expect_one_line(_train(tmp_path, "--config", str(tmp_path / "c.yaml")), "is not UTF-8 text")


@pytest.mark.parametrize("damaged", ["run.json", "summary.json"])
@pytest.mark.slow
def test_evaluating_a_run_with_a_damaged_record(one_epoch_run, tmp_path, damaged):
    shutil.copytree(one_epoch_run, tmp_path / "runs" / "x")
    (tmp_path / "runs" / "x" / damaged).write_text("{broken")
    r = run_job("evaluate.py", str(tmp_path / "runs" / "x"), "--methods", "random",
                "--test-subset", "100", "--no-tracking")
    expect_one_line(r, f"{tmp_path / 'runs' / 'x' / damaged} is damaged")


def test_compare_on_a_missing_store_creates_nothing(tmp_path):
    db = tmp_path / "nowhere" / "mlflow.db"
    r = run_job("compare.py", "--tracking-uri", f"sqlite:///{db}", "--output-dir", str(tmp_path / "out"))
    expect_one_line(r, f"there is no MLflow store at {db}")
    assert not db.exists()


@pytest.mark.parametrize("content", [b"[]", b"\xff\xfe{not utf-8", b"{\"config\": [1]}"])
def test_a_run_record_that_is_not_one_is_one_line(tmp_path, content):
    run = tmp_path / "runs" / "odd"
    run.mkdir(parents=True)
    (run / "run.json").write_bytes(content)
    r = _train(tmp_path, "--epochs", "1", "--run-name", "odd", "--no-tracking")
    expect_one_line(r, f"run record {run / 'run.json'} is damaged")
    expect_one_line(run_job("evaluate.py", str(run), "--methods", "random", "--no-tracking"), str(run))
    assert (run / "run.json").read_bytes() == content


@pytest.mark.slow
def test_compare_with_a_quote_in_a_tag_value(tmp_path):
    db = tmp_path / "mlflow.db"
    MlflowClient(f"sqlite:///{db}").create_experiment("smoot_dist")
    r = run_job("compare.py", "--tracking-uri", f"sqlite:///{db}", "--tag", "method=it's",
                "--output-dir", str(tmp_path / "out"))
    expect_one_line(r, "no finished runs to compare")  # was: a traceback from MLflow's parser
    r = run_job("compare.py", "--tracking-uri", f"sqlite:///{db}", "--tag", "method=it's \"x\"",
                "--output-dir", str(tmp_path / "out"))
    expect_one_line(r, "MLflow cannot search for a value holding both ' and \"")


@pytest.mark.slow
def test_a_second_evaluation_keeps_the_first_unless_it_measured_the_same(real_data_root, tmp_path):
    ok = _train(tmp_path, "--epochs", "1", "--run-name", "done", "--no-tracking")
    assert ok.returncode == 0, ok.stderr[-2000:]
    evaluation = tmp_path / "runs" / "done" / "evaluation"

    def evaluate(images, *extra):
        r = run_job("evaluate.py", str(tmp_path / "runs" / "done"), "--methods", "random",
                    "--test-subset", str(images), "--no-tracking", *extra)
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout

    def records():
        return {p.parent.name: p.read_bytes() for p in evaluation.glob("*/metrics.json")}

    closing = records()  # the training run's own closing evaluation
    assert [name.startswith("closing-") for name in closing] == [True]
    evaluate(100)
    first = records()
    out = evaluate(50)  # another protocol: its own record, the first untouched
    second = records()
    assert len(second) == 3 and all(second[k] == v for k, v in first.items())
    [new] = set(second) - set(first)
    assert new.startswith("50img-background-s0-") and f"protocol {new}:" in out
    assert json.loads(second[new])["num_images"] == 50
    # without --metrics: what the last evaluation measured (its default, morf,lerf); with
    # another fill: yet another record
    out = evaluate(50, "--removal-fill", "mean")
    assert "metrics: morf, lerf (the run's last evaluation's" in out
    assert len(records()) == 4
    out = evaluate(50)  # the same protocol again: replaced, and said so
    assert f"replaced the earlier evaluation of the same protocol in {evaluation / new}" in out
    assert len(records()) == 4 and records()[new] != b""
    assert not [p for p in evaluation.iterdir() if ".partial-" in p.name or ".replaced-" in p.name]