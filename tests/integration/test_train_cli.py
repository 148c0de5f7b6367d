"""`jobs/train.py` as a user runs it: summary JSON, paper row, bad input. (That the core never
imports Ray is the import-linter contract of pyproject.toml, tests/unit/test_layers.py; the GPU
machine's path without Ray or MLflow installed runs in test_eval_jobs.py.)"""

import json

import pytest

from tests.conftest import run_job

pytestmark = pytest.mark.integration


# MNIST only: what this checks of the job (summary, row, run folder, embedded store) does not
# depend on the dataset, and Fashion-MNIST's SMOOT epoch on 4000 images is trained and checked in
# test_engine_real_data.py (accuracy, K's spread). Measured here (seed 0, 1 epoch, 4000 samples):
# MNIST 0.873 (Fashion-MNIST 0.687).
@pytest.mark.parametrize("dataset,bound", [("mnist", 0.70)])
@pytest.mark.slow
def test_smoot_one_epoch_in_process(real_data_root, tmp_path, dataset, bound):
    summary_path = tmp_path / "s.json"
    r = run_job("train.py", "--dataset", dataset, "--method", "smoot", "--epochs", "1",
                "--train-subset", "4000", "--workers", "0", "--summary-json", str(summary_path),
                "--eval-images", "200",  # the row's AUC on 200 images: the rest is what counts here
                "--storage-path", str(tmp_path), "--run-name", "run", "--no-progress",
                env={"SMOOT_HOME": str(tmp_path / "home")})
    assert r.returncode == 0, r.stderr
    s = json.loads(summary_path.read_text())
    assert (s["method"], s["dataset"]) == ("smoot", dataset)
    assert bound <= s["test_accuracy"] <= 1.0
    k = s["k"]
    assert k["min"] < k["median"] < k["max"]
    assert 157 <= k["min"] and k["max"] <= 627
    assert 0.2 <= k["mean_fraction"] <= 0.8
    assert len(s["epochs"]) == 1
    epoch = s["epochs"][0]
    assert epoch["test_accuracy"] == s["test_accuracy"]
    assert {k2: epoch["k"][k2] for k2 in k} == k
    assert {"train_ce", "train_kl", "epoch_time_s"} <= set(epoch)
    assert s["num_test"] == 10000 and s["num_train"] == 4000
    assert "SMOOT | 10K | " in r.stdout and f"{100 * s['test_accuracy']:.2f}%" in r.stdout
    run = tmp_path / "run"
    assert {"summary.json", "config.yaml", "run.json", "checkpoint_epoch_0001", "mask_state.parquet",
            "k_histogram.png"} <= {p.name for p in run.iterdir()}
    assert (tmp_path / "home" / "mlflow.db").is_file()  # tracked in the embedded store


@pytest.mark.parametrize("args,message", [
    (["--k-min", "0.8", "--k-max", "0.3"], "k_min (0.8) must be below k_max (0.3)"),
    (["--k0", "1.5"], "k0 is a fraction of the pixels and must lie in [0, 1], got 1.5"),
    (["--beta", "-0.5"], "beta weighs two changes and must lie in [0, 1]"),
    (["--lambda", "-1"], "lambda (the KL weight) must be >= 0"),
    (["--alpha", "-0.1"], "alpha (the step of k) must be >= 0"),
    (["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (["--method", "gradcam"], "unknown method 'gradcam'"),
    (["--fill", "zeros"], "unknown fill 'zeros'"),
    (["--model", "resnet9000"], "unknown model 'resnet9000'"),
    (["--epochs", "two"], "argument --epochs: invalid int value: 'two'"),
    (["--workers", "-1"], "--workers must be >= 0"),
    (["--data-root", "/nonexistent/data"], "run `python jobs/prepare_data.py fashion_mnist --root /nonexistent/data`"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, message):
    r = run_job("train.py", "--workers", "0", "--epochs", "1", "--train-subset", "100",
                "--storage-path", str(tmp_path), *args, env={"SMOOT_HOME": str(tmp_path / "home")})
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in r.stderr + r.stdout
