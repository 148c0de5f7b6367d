"""What a training run holds in MLflow, as its users expect it from a serious trainer: an
experiment that opens on its runs, the model as an MLflow model (loadable, registered), the data
as dataset inputs, system metrics, the source and its commit, params without unset noise."""

import csv
import json
from pathlib import Path

import mlflow.pytorch
import numpy as np
import pytest
import torch
from mlflow import MlflowClient

from smoot_dist.config import build_config
from smoot_dist.data.loading import load_splits
from tests.conftest import expect_one_line, mlflow_store, run_job

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_a_training_run_in_mlflow(real_data_root, tmp_path, monkeypatch):
    store = mlflow_store(tmp_path / "mlflow.db")
    # (explain.py finds the run by name under $SMOOT_HOME/runs)
    r = run_job("train.py", "--workers", "0", "--dataset", "fashion_mnist", "--epochs", "1",
                "--train-subset", "500", "--test-subset", "100", "--eval-images", "100",
                "--tracking-uri", store, "--storage-path", str(tmp_path / "runs"),
                "--register-model", "fmnist-smoot", "--summary-json", str(tmp_path / "s.json"),
                "--no-progress", env={"MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL": "1",
                                      "SMOOT_HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((tmp_path / "s.json").read_text())
    client = MlflowClient(store)
    # the experiment opens on its training runs (not MLflow 3's GenAI overview), described
    experiment = client.get_experiment_by_name("smoot_dist")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert "SMOOT" in experiment.tags["mlflow.note.content"]
    # ... with accuracy and AUC columns: the view the printed URL opens
    view = json.loads(experiment.tags["mlflow.sharedViewState.smoot-runs"])
    assert {"metrics.`test_accuracy`", "metrics.`auc_grad`"} <= set(view["selectedColumns"])
    assert (f"#/experiments/{experiment.experiment_id}/runs?workflowType=machine_learning"
            f"&viewStateShareKey=smoot-runs") in r.stdout
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
    # the store for runs:/ and models:/ URIs, for this test only (mlflow.set_tracking_uri would
    # export it to every later test's jobs)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    # by run, by the logged model's own URI (the run's tag), and as registered
    for uri in (model_uri, run.data.tags["smoot.model_uri"], "models:/fmnist-smoot/1"):
        model = mlflow.pytorch.load_model(uri).eval()
        with torch.no_grad():
            accuracy = (model(pixels).argmax(1) == splits.test.labels).double().mean().item()
        assert accuracy == pytest.approx(summary["test_accuracy"], abs=1e-9), uri
    [version] = client.search_model_versions("name='fmnist-smoot'")
    assert version.run_id == run.info.run_id

    # explain.py: the model predicts and explains a user's own images, from the run folder, its
    # name and the registered model alike; a labelled folder gives the true class; an image of
    # another size and channel count is converted (and says so), or refused with --no-convert
    from PIL import Image

    classes = splits.spec.classes
    folder = tmp_path / "mine"
    for i in range(3):
        label = int(splits.test.labels[i])
        # folders named by class index (a class name such as T-shirt/top is no folder name)
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        grey = splits.test.images[i, 0].numpy()
        image = Image.fromarray(grey) if i < 2 else Image.fromarray(
            np.repeat(grey[:, :, None], 3, axis=2)).resize((56, 56), Image.Resampling.NEAREST)
        image.save(folder / str(label) / f"img{i}.png")
    with torch.no_grad():
        expected = model(pixels[:2]).softmax(1)
    env = {"SMOOT_HOME": str(tmp_path)}
    results = []
    for source in (summary["run_dir"], summary["run_name"], "models:/fmnist-smoot/1"):
        out = tmp_path / f"explained-{len(results)}"
        r = run_job("explain.py", source, str(folder), "--output-dir", str(out),
                    "--tracking-uri", store, env=env)
        assert r.returncode == 0, r.stderr[-3000:]
        rows = sorted(csv.DictReader(open(out / "explanations.csv")),
                      key=lambda r: Path(r["image"]).name)
        results.append([(row["predicted"], row["probability"]) for row in rows])
        assert [row["converted"] for row in rows] == ["", "", "56x56 colour -> 28x28 grey"]
        assert "(converted 56x56 colour -> 28x28 grey)" in r.stdout
        for i, row in enumerate(rows[:2]):  # the prediction is the model's own
            assert row["predicted"] == classes[int(expected[i].argmax())]
            assert float(row["probability"]) == pytest.approx(float(expected[i].max()), abs=1e-4)
            assert row["true"] == classes[int(splits.test.labels[i])]
            assert row["correct"] == str(row["predicted"] == row["true"]).lower()
        assert all((out / row["figure"]).stat().st_size > 0 for row in rows)
        assert (out / "grid.png").stat().st_size > 0
    assert results[0] == results[1] == results[2]
    r = run_job("explain.py", summary["run_dir"], str(folder), "--no-convert", env=env)
    expect_one_line(r, "img2.png is 56x56 colour, the run's model takes 28x28")
    r = run_job("explain.py", summary["run_dir"], str(tmp_path / "nothing-here"), env=env)
    expect_one_line(r, "nothing-here does not exist; give image files or a folder of them")
    # a method it cannot draw is refused before any model is looked for
    r = run_job("explain.py", "no-such-run", str(folder), "--methods", "gradient_shap", env=env)
    expect_one_line(r, "gradient_shap need reference images of the run's data")
    r = run_job("explain.py", "models:/no-such-model/1", str(folder), "--tracking-uri", store,
                env=env)
    expect_one_line(r, "no registered model models:/no-such-model/1 in")
