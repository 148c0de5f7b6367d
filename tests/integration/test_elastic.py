"""Elastic training (`--workers 1:2`) on a cluster of its own that fits one worker, grown by a
second local Ray node joining mid-run. The exception to one cluster per session: the session's
cluster has room for two workers from the start, and nodes can't be taken away from it. Each
`ray start` runs in its own process session, so this cluster's processes (and only they) are
stopped at the end, while the session cluster keeps running."""

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time

import pytest
from mlflow.tracking import MlflowClient

from smoot_dist.method.mask_state import read_mask_parquet
from smoot_dist.training.checkpoint import k_digest
from tests.conftest import PYTHON, REPO, mlflow_store
from tests.integration.conftest import free_port, start_ray_node, stop_sessions, wait_http

pytestmark = pytest.mark.integration


@pytest.fixture
def one_worker_cluster():
    # a short path: Ray's socket paths under it must fit the 107 characters Unix allows
    temp = tempfile.mkdtemp(prefix="smoot-elastic-")
    gcs, dash = free_port(), free_port()
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token",
               # two nodes: Ray refuses a second node in its loopback-only mode; every node
               # still binds to 127.0.0.1 (--node-ip-address, --dashboard-host)
               RAY_AUTH_TOKEN=secrets.token_hex(32), RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="1")
    env.pop("RAY_ADDRESS", None)
    common = ["--num-cpus=1", "--node-ip-address=127.0.0.1", "--object-store-memory=150000000",
              "--disable-usage-stats", f"--temp-dir={temp}"]
    sessions = []

    def start(*args):
        sessions.append(start_ray_node([*args, *common], env))

    start("--head", f"--port={gcs}", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}",
          "--include-dashboard=true")
    try:
        wait_http(f"http://127.0.0.1:{dash}/api/version", 90, any_status=True)
        yield {"address": f"127.0.0.1:{gcs}", "env": env,
               "add_node": lambda: start(f"--address=127.0.0.1:{gcs}")}
    finally:
        stop_sessions(sessions)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
def test_a_run_grows_to_two_workers_when_a_node_joins(real_data_root, one_worker_cluster, tmp_path):
    storage, kept = tmp_path / "runs", tmp_path / "kept"
    store = mlflow_store(tmp_path / "mlflow.db")
    args = ["--dataset", "fashion_mnist", "--method", "smoot", "--train-subset", "2000",
            "--test-subset", "500", "--eval-images", "200", "--workers", "1:2", "--resize-check-s",
            "2", "--epochs", "8",
            "--run-name", "elastic", "--storage-path", str(storage), "--tracking-uri", store,
            "--no-progress", "--summary-json", str(tmp_path / "s.json"),
            "--ray-address", one_worker_cluster["address"]]
    log = open(tmp_path / "log.txt", "w")
    proc = subprocess.Popen([PYTHON, str(REPO / "jobs/train.py"), *args], cwd=str(REPO), stdout=log,
                            stderr=subprocess.STDOUT, env=one_worker_cluster["env"])
    joined = resized = None
    deadline = time.monotonic() + 600
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            # Keep every checkpoint's mask state (Ray keeps the newest two only).
            for history in (storage / "elastic").glob("checkpoint_*/history.json"):
                epochs = len(json.loads(history.read_text())["history"])
                if not (kept / str(epochs)).exists():
                    shutil.copytree(history.parent, kept / str(epochs))
            if joined is None and (kept / "1").exists():
                one_worker_cluster["add_node"]()  # capacity for a second worker appears
                joined = time.monotonic()
            if joined and resized is None and "on 2 worker(s)" in (tmp_path / "log.txt").read_text():
                resized = time.monotonic()
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    output = (tmp_path / "log.txt").read_text()
    assert proc.returncode == 0, output[-4000:]
    summary = json.loads((tmp_path / "s.json").read_text())
    # Ray Data's autoscaling coordinator, which Ray Train's elastic policy asks, notices a new
    # node within its 20 s tick: 8 epochs of about 8 s leave room for that.
    assert [e["epoch"] for e in summary["epochs"]] == list(range(1, 9))  # each epoch once
    sizes = [e["workers"] for e in summary["epochs"]]
    assert sizes[0] == 1 and sizes[-1] == 2 and sorted(sizes) == sizes and summary["workers"] == 2
    # one resize, resumed from the last checkpoint with the mask state re-sharded for 2 workers:
    # gathered back, it is the checkpointed state bit for bit
    [resume] = summary["resumes"]
    assert resume["workers"] == 2 and sizes.count(1) == resume["epoch"]
    saved = kept / str(resume["epoch"]) / "mask_state.parquet"
    assert resume["k_sha256"] == k_digest(read_mask_parquet(saved, 2000))
    # one MLflow run, each epoch logged once, with the worker count it ran on
    client = MlflowClient(store)
    history = client.get_metric_history(summary["mlflow"]["run_id"], "workers")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == \
        [(e, float(w)) for e, w in zip(range(1, 9), sizes)]
    assert [m.step for m in client.get_metric_history(summary["mlflow"]["run_id"],
                                                      "test_accuracy")] == list(range(1, 9))
    print(f"\nelastic resize: {resized - joined:.1f} s from the node joining to the first epoch "
          f"finished on 2 workers (epochs on 1 worker: {sizes.count(1)}; an epoch on 2 workers: "
          f"{summary['epochs'][-1]['epoch_time_s']:.1f} s)")
