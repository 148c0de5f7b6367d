"""What a training run holds in MLflow, as its users expect it from a serious trainer: an
experiment that opens on its runs, the model as an MLflow model (loadable, registered), the data
as dataset inputs, system metrics, the source and its commit, params without unset noise."""

import json

import mlflow.pytorch
import pytest
import torch
from mlflow import MlflowClient

from smoot_dist.config import build_config
from smoot_dist.data.loading import load_splits
from tests.conftest import run_job

pytestmark = pytest.mark.integration


def test_a_training_run_in_mlflow(real_data_root, tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    r = run_job("train.py", "--workers", "0", "--dataset", "fashion_mnist", "--epochs", "1",
                "--train-subset", "500", "--test-subset", "100", "--eval-images", "100",
                "--tracking-uri", store, "--storage-path", str(tmp_path / "runs"),
                "--register-model", "fmnist-smoot", "--summary-json", str(tmp_path / "s.json"),
                "--no-progress", env={"MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((tmp_path / "s.json").read_text())
    client = MlflowClient(store)
    # the experiment opens on its training runs (not MLflow 3's GenAI overview), described
    experiment = client.get_experiment_by_name("smoot_dist")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert "SMOOT" in experiment.tags["mlflow.note.content"]
    run = client.get_run(summary["mlflow"]["run_id"])
    # params: set options only; the source and its commit as MLflow's standard tags
    assert "None" not in run.data.params.values() and "data.root" not in run.data.params
    assert run.data.params["data.train_subset"] == "500"
    assert run.data.tags["mlflow.source.name"].endswith("train.py")
    assert len(run.data.tags["mlflow.source.git.commit"]) == 40
    # the data it trained and was tested on, each with a digest of the exact subset
    inputs = {next(t.value for t in i.tags if t.key == "mlflow.data.context"): i.dataset
              for i in run.inputs.dataset_inputs}
    assert set(inputs) == {"training", "test"}
    assert [json.loads(inputs[c].profile)["num_rows"] for c in ("training", "test")] == [500, 100]
    assert inputs["training"].digest != inputs["test"].digest
    assert inputs["training"].name == "Fashion-MNIST train (500 class-balanced)"
    # system metrics of the process that trained
    assert any(key.startswith("system/cpu_utilization") for key in run.data.metrics)

    # the logged model, loaded back with MLflow alone, gives the run's test accuracy on its 100
    # test images (pixels in [0, 1]: the normalisation is inside the model)
    model_uri = f"runs:/{run.info.run_id}/model"
    splits = load_splits(build_config(overrides={"data": {
        "dataset": "fashion_mnist", "train_subset": 500, "test_subset": 100}}).data)
    pixels = splits.test.images.float() / 255.0
    for uri in (model_uri, "models:/fmnist-smoot/1"):  # by run, and as registered
        mlflow.set_tracking_uri(store)
        model = mlflow.pytorch.load_model(uri).eval()
        with torch.no_grad():
            accuracy = (model(pixels).argmax(1) == splits.test.labels).double().mean().item()
        assert accuracy == pytest.approx(summary["test_accuracy"], abs=1e-9), uri
    [version] = client.search_model_versions("name='fmnist-smoot'")
    assert version.run_id == run.info.run_id
