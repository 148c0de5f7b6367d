"""MLflow: a real tracking server over HTTP (its artifacts in an S3 bucket), the embedded store,
an unreachable server."""

import json
import os
import subprocess

import pytest
import torch
from mlflow.tracking import MlflowClient

from smoot_dist.training.precision import resolve_precision
from tests.conftest import PYTHON, run_job

pytestmark = pytest.mark.integration


LOAD_MODEL = """
import sys, mlflow, mlflow.pytorch, torch
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pytorch.load_model(sys.argv[2]).eval()
print(tuple(model(torch.zeros(5, 1, 28, 28)).shape))
"""


@pytest.mark.slow
def test_run_reaches_a_real_tracking_server_over_http(real_data_root, mlflow_server, s3_server,
                                                      tmp_path):
    r = run_job("train.py", "--workers", "0", "--dataset", "fashion_mnist", "--method", "sgt",
                "--epochs", "2", "--train-subset", "1000", "--test-subset", "500",
                "--eval-images", "200", "--tracking-uri", mlflow_server, "--storage-path", str(tmp_path),
                "--run-name", "over-http", "--summary-json", str(tmp_path / "s.json"),
                "--precision", "auto")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    client = MlflowClient(mlflow_server)
    run = client.get_run(summary["mlflow"]["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == "over-http"
    assert run.data.params["method.name"] == "sgt" and run.data.params["method.k0"] == "0.5"
    # --precision auto is recorded as what it resolved to here, in MLflow and the run's config
    native = resolve_precision("auto", torch.device("cpu"))[0]
    assert run.data.params["train.precision"] == native
    assert summary["config"]["train"]["precision"] == native
    assert f"precision: {native} (auto: CPU " in r.stdout
    acc = client.get_metric_history(run.info.run_id, "test_accuracy")
    assert [m.step for m in acc] == [1, 2]
    assert [m.value for m in acc] == [e["test_accuracy"] for e in summary["epochs"]]
    # within each epoch (4 steps of 256): the running training CE at every step, the last of an
    # epoch its own train_ce; off a terminal, a progress line at each 10% before the epoch line
    ce = client.get_metric_history(run.info.run_id, "train_ce_step")
    assert [m.step for m in ce] == list(range(1, 9))
    assert [ce[3].value, ce[7].value] == pytest.approx([e["train_ce"] for e in summary["epochs"]])
    lines = r.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("epoch 1/2 "))
    assert [line.split("(")[0].strip() for line in lines[first - 3:first]] == [
        f"epoch 1/2  step {s}/4" for s in (1, 2, 3)]
    assert "img/s  ETA " in lines[first - 1] and " loss " in lines[first - 1]
    k_max = client.get_metric_history(run.info.run_id, "k_max")
    assert [m.value for m in k_max] == [392.0, 392.0]
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"summary.json", "config.yaml", "mask_state.parquet", "k_histogram.png"} <= names
    # ... which the server keeps in its bucket (the job had no S3 credentials: it uploaded
    # through the server), the logged model among them
    keys = list(s3_server.objects("bucket/mlartifacts"))
    assert any(k.endswith(f"{run.info.run_id}/artifacts/summary.json") for k in keys), keys[:20]
    assert any(k.endswith("/artifacts/MLmodel") for k in keys), keys[:20]
    # another process, given only the server's address, loads the model by the URI the run
    # names and it predicts (runs:/<id>/model asks the run's artifacts for a file `model`
    # first, which a proxying server can answer with errors MLflow retries for minutes)
    model_uri = client.get_run(run.info.run_id).data.tags["smoot.model_uri"]
    assert model_uri.startswith("models:/m-"), model_uri
    assert f"MLflow model: {model_uri} " in r.stdout  # the job says it, to copy
    loaded = subprocess.run([PYTHON, "-c", LOAD_MODEL, mlflow_server, model_uri],
                            capture_output=True, text=True, timeout=300,
                            env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")})
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.strip().splitlines()[-1] == "(5, 10)"
    # continued with `auto` (a default that may resolve otherwise elsewhere): the run keeps the
    # precision it recorded, in the same MLflow run
    again = run_job("train.py", "--workers", "0", "--dataset", "fashion_mnist", "--method", "sgt",
                    "--epochs", "3", "--train-subset", "1000", "--test-subset", "500",
                    "--eval-images", "200", "--tracking-uri", mlflow_server, "--storage-path",
                    str(tmp_path), "--run-name", "over-http", "--precision", "auto",
                    "--summary-json", str(tmp_path / "s3.json"))
    assert again.returncode == 0, again.stderr
    assert f"precision: {native} (auto: as the run recorded)" in again.stdout
    assert json.loads((tmp_path / "s3.json").read_text())["mlflow"]["run_id"] == run.info.run_id
    assert [m.step for m in client.get_metric_history(run.info.run_id, "test_accuracy")] == [1, 2, 3]


def test_tracking_server_listens_on_loopback_only(mlflow_server):
    from tests.integration.conftest import public_listeners

    port = int(mlflow_server.rsplit(":", 1)[1])
    assert all(p != port for _addr, p, _owner in public_listeners())


@pytest.mark.slow
def test_unreachable_tracking_server_is_reported_before_training(tmp_path):
    from tests.integration.conftest import free_port

    r = run_job("train.py", "--workers", "0", "--epochs", "1", "--train-subset", "100",
                "--tracking-uri", f"http://127.0.0.1:{free_port()}", "--storage-path", str(tmp_path))
    assert r.returncode == 2
    assert r.stderr.strip().startswith("error: MLflow tracking server http://127.0.0.1:")
    assert "is not reachable" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # nothing was started
