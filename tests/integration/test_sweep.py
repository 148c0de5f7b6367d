"""A real 2-trial Ray Tune sweep on the session's Ray cluster, tracked in MLflow."""

import csv
import re
import json

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.conftest import mlflow_store, run_job

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_two_trial_sweep_tracks_each_trial_and_its_best_config_trains(real_data_root, ray_cluster,
                                                                     tmp_path):
    store = mlflow_store(tmp_path / "mlflow.db")
    out = tmp_path / "sweep"
    r = run_job(
        "../tune/sweep.py", "--dataset", "fashion_mnist", "--num-samples", "2", "--epochs", "1",
        "--train-subset", "500", "--test-subset", "200", "--workers-per-trial", "1",
        "--max-concurrent", "2", "--objective", "combined", "--objective-images", "100",
        "--val-images", "100",
        "--sweep-seed", "0", "--tracking-uri", store, "--storage-path", str(tmp_path / "runs"),
        "--ray-address", ray_cluster["address"], "--output-dir", str(out), env=ray_cluster["env"])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    # a quiet console: one line per finished trial, no status tables, no Ray report dumps
    finished = [line for line in r.stdout.splitlines() if re.match(r"trial \d+/2 ", line)]
    assert len(finished) == 2 and all(" -> objective " in line for line in finished), r.stdout
    for noise in ("TrainingReport(", "Trial status", "== Status ==", "Configuration for experiment",
                  "(raylet)", "\x1b[", "View detailed results", "max_concurrent_trials"):
        assert noise not in r.stdout + r.stderr, noise
    rows = list(csv.DictReader(open(out / "trials.csv")))
    assert len(rows) == 2 and all(row["error"] == "" for row in rows)
    for row in rows:
        assert float(row["k_min"]) < 0.5 < float(row["k_max"])  # sampled settings, k0 = 0.5
        assert float(row["K_min"]) <= float(row["K_median"]) <= float(row["K_max"])  # pixel counts
    summary = json.loads((out / "sweep.json").read_text())
    sweep_id = summary["sweep"]

    client = MlflowClient(store)
    exp = client.get_experiment_by_name("smoot_dist")
    runs = client.search_runs([exp.experiment_id], f"tags.sweep = '{sweep_id}'")
    parent = [run for run in runs if run.data.tags.get("kind") == "sweep"]
    trials = [run for run in runs if run.data.tags.get("kind") != "sweep"]
    assert len(parent) == 1 and len(trials) == 2
    assert parent[0].data.metrics["best_objective"] == pytest.approx(summary["best"]["objective"])
    sampled = set()
    for run in trials:
        params = run.data.params
        assert run.data.tags["mlflow.parentRunId"] == parent[0].info.run_id
        assert float(params["method.k_min"]) < float(params["method.k0"]) < float(params["method.k_max"])
        assert params["method.name"] == "smoot"
        history = client.get_metric_history(run.info.run_id, "objective")
        assert [m.step for m in history] == [1]
        # selected on the validation split only (the test metrics are reported beside it)
        m = run.data.metrics
        assert history[0].value == pytest.approx(100 * m["val_accuracy"] - m["val_auc_grad"])
        assert history[0].value != pytest.approx(100 * m["test_accuracy"] - m["auc_grad"])
        sampled.add(tuple(params[f"method.{k}"] for k in ("beta", "lambda", "alpha", "k_min", "k_max")))
    assert len(sampled) == 2  # two different trials, each with its own settings
    assert {a.path for a in client.list_artifacts(parent[0].info.run_id)} >= {
        "best_config.yaml", "trials.csv", "objective_vs_params.png"}

    best = yaml.safe_load((out / "best_config.yaml").read_text())
    assert best["method"]["beta"] == pytest.approx(float(summary["best"]["beta"]))
    r = run_job("train.py", "--config", str(out / "best_config.yaml"), "--workers", "0",
                "--train-subset", "200", "--test-subset", "100", "--eval-images", "0", "--no-tracking",
                "--storage-path", str(tmp_path / "again"), "--summary-json", str(tmp_path / "b.json"))
    assert r.returncode == 0, r.stderr[-2000:]
    again = json.loads((tmp_path / "b.json").read_text())
    assert again["config"]["method"] == best["method"]


@pytest.mark.slow
def test_sigterm_stops_a_sweep_as_it_stops_training(real_data_root, ray_cluster, tmp_path):
    """SIGTERM once a trial has trained an epoch: exit 143 with `interrupted (SIGTERM)`, as a
    training job; the sweep's MLflow run and the running trial's end KILLED, with an end time."""
    import os
    import signal
    import subprocess
    import time

    from tests.conftest import PYTHON, REPO

    store = mlflow_store(tmp_path / "mlflow.db")
    args = ["--dataset", "fashion_mnist", "--num-samples", "3", "--epochs", "3",
            "--train-subset", "2000", "--test-subset", "200", "--workers-per-trial", "1",
            "--max-concurrent", "1", "--val-images", "100", "--objective-images", "50",
            "--tracking-uri", store, "--storage-path", str(tmp_path / "runs"),
            "--ray-address", ray_cluster["address"], "--output-dir", str(tmp_path / "sweep")]
    with open(tmp_path / "log.txt", "w") as log:
        proc = subprocess.Popen([PYTHON, str(REPO / "tune" / "sweep.py"), *args],
                                env=ray_cluster["env"], stdout=log, stderr=subprocess.STDOUT,
                                cwd=str(REPO), start_new_session=True)
        deadline = time.time() + 300
        while not list((tmp_path / "runs").rglob("checkpoint_*/history.json")):
            assert proc.poll() is None and time.time() < deadline, (tmp_path / "log.txt").read_text()
            time.sleep(0.5)
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
    text = (tmp_path / "log.txt").read_text()
    assert proc.returncode == 143, text[-3000:]
    assert text.rstrip().endswith("interrupted (SIGTERM)"), text[-3000:]
    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name("smoot_dist").experiment_id])
    assert runs and all(r.info.status == "KILLED" and r.info.end_time for r in runs), \
        [(r.info.run_name, r.info.status) for r in runs]
    assert any(r.data.tags.get("kind") == "sweep" for r in runs)
    assert any(r.data.tags.get("stopped_by") == "interrupted" for r in runs)
