"""MLflow: a real tracking server over HTTP, the embedded store, an unreachable server."""

import json

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import run_job

pytestmark = pytest.mark.integration


def test_run_reaches_a_real_tracking_server_over_http(real_data_root, mlflow_server, tmp_path):
    r = run_job("train.py", "--workers", "0", "--dataset", "fashion_mnist", "--method", "sgt",
                "--epochs", "2", "--train-subset", "1000", "--test-subset", "500",
                "--eval-images", "200", "--tracking-uri", mlflow_server, "--storage-path", str(tmp_path),
                "--run-name", "over-http", "--summary-json", str(tmp_path / "s.json"), "--no-progress")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    client = MlflowClient(mlflow_server)
    run = client.get_run(summary["mlflow"]["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == "over-http"
    assert run.data.params["method.name"] == "sgt" and run.data.params["method.k0"] == "0.5"
    acc = client.get_metric_history(run.info.run_id, "test_accuracy")
    assert [m.step for m in acc] == [1, 2]
    assert [m.value for m in acc] == [e["test_accuracy"] for e in summary["epochs"]]
    k_max = client.get_metric_history(run.info.run_id, "k_max")
    assert [m.value for m in k_max] == [392.0, 392.0]
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"summary.json", "config.yaml", "mask_state.parquet", "k_histogram.png"} <= names


def test_tracking_server_listens_on_loopback_only(mlflow_server):
    from tests.integration.conftest import public_listeners

    port = int(mlflow_server.rsplit(":", 1)[1])
    assert all(p != port for _addr, p, _owner in public_listeners())


def test_unreachable_tracking_server_is_reported_before_training(tmp_path):
    from tests.integration.conftest import free_port

    r = run_job("train.py", "--workers", "0", "--epochs", "1", "--train-subset", "100",
                "--tracking-uri", f"http://127.0.0.1:{free_port()}", "--storage-path", str(tmp_path))
    assert r.returncode == 2
    assert r.stderr.strip().startswith("error: MLflow tracking server http://127.0.0.1:")
    assert "is not reachable" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # nothing was started
