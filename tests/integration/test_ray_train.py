"""The Ray Train path on a real local cluster: `ray job submit`, sharded K statistics, and
agreement with the in-process engine (resuming on another worker count, on another machine:
test_remote_storage.py)."""

import json
import subprocess

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from smoot_dist.method.mask_state import read_mask_parquet
from smoot_dist.method.masking import mask_counts
from tests.conftest import REPO, mlflow_store, run_job
from tests.integration.conftest import BIN

pytestmark = pytest.mark.integration


def _submit(cluster, *args, timeout=900):
    cmd = [str(BIN / "ray"), "job", "submit", "--address", cluster["dashboard"],
           "--working-dir", str(REPO), "--", "python", "jobs/train.py", *args]
    return subprocess.run(cmd, env=cluster["env"], capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_ray_job_submit_trains_and_tracks(real_data_root, ray_cluster, tmp_path):
    store = mlflow_store(tmp_path / "mlflow.db")
    r = _submit(ray_cluster, "--dataset", "fashion_mnist", "--method", "smoot", "--epochs", "2",
                "--train-subset", "4000", "--test-subset", "2000", "--eval-images", "400",
                "--workers", "2", "--summary-json", str(tmp_path / "s.json"),
                "--tracking-uri", store, "--storage-path", str(tmp_path / "runs"),
                "--run-name", "submitted", "--no-progress")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["workers"] == 2 and len(summary["epochs"]) == 2
    assert summary["test_accuracy"] >= 0.65  # measured 0.72 here (2 epochs, 2 workers)
    # the run's own saliency evaluation, on the workers (400 test images, sharded): Grad's
    # MoRF AUC well below Random's
    assert summary["epochs"][-1]["auc_images"] == 400
    assert summary["auc"]["grad"] < summary["auc"]["random"] - 5
    assert "| Accuracy | AUC" in r.stdout

    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name("smoot_dist").experiment_id])
    assert [run.info.run_name for run in runs] == ["submitted"]
    run_id = runs[0].info.run_id
    assert runs[0].data.params["run.workers"] == "2"
    for key in ("test_accuracy", "k_min", "k_median", "k_max", "k_mean_fraction", "train_ce", "train_kl"):
        assert [m.step for m in client.get_metric_history(run_id, key)] == [1, 2], key
    local = client.download_artifacts(run_id, "mask_state.parquet", str(tmp_path))
    k = read_mask_parquet(local, 4000)

    # The K statistics all-reduced from two shards equal those of the gathered full vector.
    counts = mask_counts(k, 784).numpy()
    last = summary["k"]
    assert (last["min"], last["median"], last["max"]) == (counts.min(), np.median(counts), counts.max())
    assert last["mean_fraction"] == pytest.approx(float(k.double().mean()), rel=1e-9)
    assert client.get_metric_history(run_id, "k_max")[-1].value == counts.max()
    for key in ("auc_grad", "auc_random"):
        assert [(m.step, m.value) for m in client.get_metric_history(run_id, key)] == \
            [(2, summary["auc"][key[4:]])]


@pytest.mark.slow
def test_one_ray_worker_matches_the_in_process_engine(real_data_root, ray_cluster, tmp_path):
    args = ["--dataset", "fashion_mnist", "--method", "smoot", "--epochs", "1", "--train-subset",
            "1000", "--test-subset", "300", "--eval-images", "0", "--seed", "7", "--no-tracking",
            "--no-progress",
            "--storage-path", str(tmp_path)]
    ray_run = run_job("train.py", *args, "--workers", "1", "--ray-address", ray_cluster["address"],
                      "--summary-json", str(tmp_path / "ray.json"), env=ray_cluster["env"])
    # One thread, as a Ray worker uses: the same float summation order, so the same masks.
    local = run_job("train.py", *args, "--workers", "0", "--summary-json", str(tmp_path / "local.json"),
                    env={"OMP_NUM_THREADS": "1"})
    assert ray_run.returncode == 0 and local.returncode == 0, ray_run.stderr[-2000:] + local.stderr[-2000:]
    a = json.loads((tmp_path / "ray.json").read_text())["epochs"][0]
    b = json.loads((tmp_path / "local.json").read_text())["epochs"][0]
    for key in ("train_ce", "train_kl", "test_loss", "test_accuracy"):
        assert a[key] == pytest.approx(b[key], rel=1e-6), key
    assert a["k"] == pytest.approx(b["k"], rel=1e-6)
