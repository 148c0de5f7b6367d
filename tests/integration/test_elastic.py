"""Elastic training (`--workers 1:2`) on a cluster of its own that fits one worker, grown by a
second local Ray node joining mid-run and shrunk again when that node is killed mid-epoch: a
node with disks of its own (a private /tmp and home folder, tests/integration/conftest.py), so
the run lives on S3 (the test server) and nothing may pass between the nodes through a local
path. The run is then evaluated from the storage path alone, fanned out over both nodes (a
second node joins again), and resumed, explained and compared by a process with an empty
SMOOT_HOME. The exception to one cluster per session: the
session's cluster has room for two workers from the start, and nodes can't be taken away from
it. Each `ray start` runs in its own process session, so this cluster's processes (and only
they) are stopped at the end, while the session cluster keeps running."""

import csv
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time

import pyarrow.fs
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from smoot_dist.config import build_config
from smoot_dist.data.loading import load_splits
from smoot_dist.method.mask_state import read_mask_parquet
from smoot_dist.training.checkpoint import k_digest
from tests.conftest import PYTHON, REPO, mlflow_store, run_job
from tests.integration.conftest import (free_port, private_disk_available, start_ray_node,
                                        stop_sessions, wait_http)

pytestmark = pytest.mark.integration


@pytest.fixture
def one_worker_cluster(real_data_root, s3_server):
    why_not = private_disk_available()
    if why_not:
        pytest.skip(f"a node with disks of its own needs a mount namespace: {why_not}")
    # a short path: Ray's socket paths under it must fit the 107 characters Unix allows
    temp = tempfile.mkdtemp(prefix="smoot-elastic-")
    gcs, dash = free_port(), free_port()
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token",
               # two nodes: Ray refuses a second node in its loopback-only mode; every node
               # still binds to 127.0.0.1 (--node-ip-address, --dashboard-host)
               RAY_AUTH_TOKEN=secrets.token_hex(32), RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="1",
               # after the node's death, Ray Train tries the old size first and waits this long
               # for it before it tries 1 worker (default 60 s; docs/cluster.md)
               RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S="20",
               **s3_server.env)  # every node's credentials, as a real node's instance role
    env.pop("RAY_ADDRESS", None)
    common = ["--num-cpus=1", "--node-ip-address=127.0.0.1", "--object-store-memory=150000000",
              "--disable-usage-stats"]
    sessions = []
    sessions.append(start_ray_node(["--head", f"--port={gcs}", "--dashboard-host=127.0.0.1",
                                    f"--dashboard-port={dash}", "--include-dashboard=true",
                                    f"--temp-dir={temp}", *common], env))

    def add_node():
        sessions.append(start_ray_node([f"--address=127.0.0.1:{gcs}", *common], env,
                                       private_disks=True, ray_temp=temp))

    def kill_node():
        """The last node added dies at once, as a spot instance taken back: every process of
        its session is killed (SIGKILL), its raylet and the workers on it with it."""
        stop_sessions([sessions[-1]])
    try:
        wait_http(f"http://127.0.0.1:{dash}/api/version", 90, any_status=True)
        yield {"address": f"127.0.0.1:{gcs}", "env": env, "add_node": add_node,
               "kill_node": kill_node}
    finally:
        stop_sessions(sessions)
        shutil.rmtree(temp, ignore_errors=True)


def _keep_checkpoints(fs, run_key, kept, copied: set[str]) -> dict[int, int]:
    """Copy every Ray checkpoint's mask state out of the bucket as soon as it is complete (Ray
    keeps the newest two only); returns {epoch: the worker count it trained on} of the kept
    ones, from each checkpoint's history. `copied`: the checkpoints already copied (a name is
    never reused), not read again at each poll (the S3 server is a Python process on the same
    2 cores)."""
    selector = pyarrow.fs.FileSelector(run_key, allow_not_found=True)
    for info in fs.get_file_info(selector):
        if not info.base_name.startswith("checkpoint_") or info.base_name in copied:
            continue
        try:
            with fs.open_input_stream(f"{info.path}/history.json") as f:
                history = json.loads(f.read())["history"]
            epoch = kept / str(len(history))
            if epoch.exists():  # that epoch again, trained after a restart: the first is kept
                copied.add(info.base_name)
                continue
            with fs.open_input_stream(f"{info.path}/mask_state.parquet") as f:
                data = f.read()
        except (OSError, ValueError, KeyError):
            continue  # still being uploaded
        epoch.mkdir(parents=True)
        (epoch / "mask_state.parquet").write_bytes(data)
        (epoch / "workers").write_text(str(history[-1]["workers"]))
        copied.add(info.base_name)
    return {int(d.name): int((d / "workers").read_text()) for d in kept.glob("*")}


def _leaves(tree, prefix=""):
    """{"metric/method/...": value} of a record's nested dicts."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    return {k: v for key, sub in tree.items() for k, v in _leaves(sub, f"{prefix}/{key}").items()}


@pytest.mark.slow
def test_a_run_grows_when_a_node_joins_and_shrinks_when_it_dies(real_data_root, one_worker_cluster,
                                                                s3_server, tmp_path):
    storage, kept = s3_server.uri("bucket", "elastic-runs"), tmp_path / "kept"
    fs = s3_server.filesystem()
    store = mlflow_store(tmp_path / "mlflow.db")
    args = ["--dataset", "fashion_mnist", "--method", "smoot", "--train-subset", "2000",
            "--test-subset", "500", "--eval-images", "200", "--workers", "1:2", "--resize-check-s",
            "2", "--epochs", "10",
            "--run-name", "elastic", "--storage-path", storage, "--tracking-uri", store,
            "--no-progress", "--summary-json", str(tmp_path / "s.json"),
            "--ray-address", one_worker_cluster["address"]]
    log = open(tmp_path / "log.txt", "w")
    proc = subprocess.Popen([PYTHON, str(REPO / "jobs/train.py"), *args], cwd=str(REPO), stdout=log,
                            stderr=subprocess.STDOUT, env=one_worker_cluster["env"])
    joined = resized = killed = recovered = None
    copied: set[str] = set()
    deadline = time.monotonic() + 900
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            # Keep every checkpoint's mask state (Ray keeps the newest two only).
            trained_on = _keep_checkpoints(fs, "bucket/elastic-runs/elastic", kept, copied)
            if joined is None and 1 in trained_on:
                one_worker_cluster["add_node"]()  # capacity for a second worker appears
                joined = time.monotonic()
            output = (tmp_path / "log.txt").read_text()
            if joined and resized is None and "on 2 worker(s)" in output:
                resized = time.monotonic()
            if killed and recovered is None and "on 1 worker(s)" in output:
                recovered = time.monotonic()
            on_two = [epoch for epoch, workers in trained_on.items() if workers == 2]
            # an epoch on 2 workers is checkpointed and Ray has taken the checkpoint (the driver
            # prints an epoch's line after Ray's checkpoint manager registered it: an upload
            # alone dies with the node, and the run would train that epoch again on 1 worker);
            # the node dies some way into the next epoch
            if killed is None and on_two and f"epoch {on_two[0]}/10 " in output:
                time.sleep(2)
                one_worker_cluster["kill_node"]()
                killed = time.monotonic()
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    output = (tmp_path / "log.txt").read_text()
    assert proc.returncode == 0, output[-4000:]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert killed, "the node was not killed: no epoch was trained on 2 workers"
    # Ray Data's autoscaling coordinator, which Ray Train's elastic policy asks, notices a new
    # node within its 20 s tick: 10 epochs of about 8 s leave room for that and for the loss.
    epochs = list(range(1, 11))
    assert [e["epoch"] for e in summary["epochs"]] == epochs  # each epoch once
    sizes = [e["workers"] for e in summary["epochs"]]
    grown, shrunk = sizes.index(2), sizes.index(1, sizes.index(2))
    assert sizes == [1] * grown + [2] * (shrunk - grown) + [1] * (10 - shrunk), sizes
    assert summary["workers"] == 1
    # two restarts, each from the last checkpoint with the mask state re-sharded for the new
    # worker count: gathered back, it is the checkpointed state bit for bit. The node's loss
    # cost the epoch in flight: the restart resumes after the last epoch on 2 workers.
    grow, shrink = summary["resumes"]
    assert (grow["epoch"], grow["workers"]) == (grown, 2)
    assert (shrink["epoch"], shrink["workers"]) == (shrunk, 1)
    for resume in (grow, shrink):
        saved = kept / str(resume["epoch"]) / "mask_state.parquet"
        assert resume["k_sha256"] == k_digest(read_mask_parquet(saved, 2000))
    # one MLflow run, each epoch logged once, with the worker count it ran on
    client = MlflowClient(store)
    history = client.get_metric_history(summary["mlflow"]["run_id"], "workers")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == \
        [(e, float(w)) for e, w in zip(epochs, sizes)]
    assert [m.step for m in client.get_metric_history(summary["mlflow"]["run_id"],
                                                      "test_accuracy")] == epochs
    print(f"\nelastic resize: {resized - joined:.1f} s from the node joining to the first epoch "
          f"finished on 2 workers (epochs on 1 worker before: {grown}; an epoch on 2 workers: "
          f"{summary['epochs'][shrunk - 1]['epoch_time_s']:.1f} s); {recovered - killed:.1f} s "
          f"from the node's death to the first epoch finished on 1 worker (an epoch on 1 "
          f"worker: {summary['epochs'][-1]['epoch_time_s']:.1f} s)")

    one_worker_cluster["add_node"]()  # a node joins again, for the evaluation's fan-out

    # Evaluated from another machine (an empty SMOOT_HOME) given the storage path alone, in
    # process and fanned out as 2 Ray tasks, one on each node (1 CPU each), the node without
    # the driver's disk included: the same record. Noisy methods, ROAD's noise and the battery's
    # draws included: every draw is seeded per batch.
    results = {}
    for workers in ("0", "2"):
        # 20 images in 2 batches: one Ray task on each node (the battery's MPRT and PGD are
        # the costly part: the record's equality, not its values, is what is checked)
        r = run_job("evaluate.py", "elastic", "--storage-path", storage, "--test-subset", "20",
                    "--methods", "grad,smoothgrad,random", "--metrics", "all", "--removal-fill",
                    "road", "--batch-size", "10", "--workers", workers, "--ray-address",
                    one_worker_cluster["address"], "--no-tracking",
                    "--output-dir", str(tmp_path / workers),
                    env={**one_worker_cluster["env"], "SMOOT_HOME": str(tmp_path / "elsewhere")})
        assert r.returncode == 0, r.stderr[-3000:]
        # a log (not a terminal) shows progress: each method's batches in process, each Ray
        # task's share from the driver
        assert ("  evaluation: 2/2 Ray task(s) done" if workers == "2"
                else "  Grad: batch 2/2 (100%)") in r.stdout
        [results[workers]] = [json.loads(p.read_text())
                              for p in (tmp_path / workers).glob("*/metrics.json")]
    for key in ("accuracy", "lerf_accuracy", "protocol_id"):
        assert results["0"][key] == results["2"][key], key
    # the metrics to float32 rounding: the model's forward differs in its last bits with the
    # thread count (2 here in process, 1 in each Ray task), and infidelity's difference of two
    # outputs magnifies that to ~1e-6 relative
    ours, fanned = _leaves(results["0"]["metrics"]), _leaves(results["2"]["metrics"])
    assert ours.keys() == fanned.keys()
    for name, value in ours.items():
        assert fanned[name] == (pytest.approx(value, rel=1e-5) if isinstance(value, float)
                                else value), name
    assert {"auc", "lerf_auc", "srg", "mprt", "relevance_mass", "max_sensitivity", "infidelity",
            "pgd_accuracy"} <= set(results["0"]["metrics"])
    assert results["2"]["workers"] == 2 and results["0"]["num_images"] == 20
    # (--output-dir: the records went there, not into the run; test_remote_storage.py has an
    # evaluation published to the run's own folder on S3)

    # ... and resumed, explained and compared from that empty SMOOT_HOME too, so one run trained
    # on nodes that share no disk does all four from the storage path alone: one more epoch on
    # 1 worker, from the final mask state bit for bit, in the same MLflow run
    elsewhere = {**one_worker_cluster["env"], "SMOOT_HOME": str(tmp_path / "elsewhere")}
    r = run_job("train.py", "--resume", "elastic", "--workers", "1", "--epochs", "11",
                "--storage-path", storage, "--ray-address", one_worker_cluster["address"],
                "--no-progress", "--summary-json", str(tmp_path / "s11.json"), env=elsewhere)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    s11 = json.loads((tmp_path / "s11.json").read_text())
    assert s11["resumes"] == summary["resumes"] + [
        {"epoch": 10, "workers": 1, "k_sha256": summary["k_sha256"]}]
    assert s11["epochs"][:10] == summary["epochs"] and s11["epochs"][10]["epoch"] == 11
    assert s11["mlflow"]["run_id"] == summary["mlflow"]["run_id"]
    assert "resumed after epoch 10 on 1 worker(s)\nepoch 11/11 " in r.stdout
    splits = load_splits(build_config(overrides={"data": {
        "dataset": "fashion_mnist", "train_subset": 100, "test_subset": 10}}).data)
    labels = [splits.spec.classes[int(label)] for label in splits.test.labels[:2]]
    for i, image in enumerate(splits.test.images[:2, 0].numpy()):
        folder = tmp_path / "mine" / str(int(splits.test.labels[i]))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"img{i}.png")
    r = run_job("explain.py", "elastic", str(tmp_path / "mine"), "--storage-path", storage,
                "--output-dir", str(tmp_path / "explained"), env=elsewhere)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = sorted(csv.DictReader(open(tmp_path / "explained" / "explanations.csv")),
                  key=lambda row: row["image"].rsplit("/", 1)[-1])
    assert [row["true"] for row in rows] == labels
    assert all((tmp_path / "explained" / row["figure"]).stat().st_size > 0 for row in rows)
    r = run_job("compare.py", "--runs", "elastic", "--storage-path", storage, "--output-dir",
                str(tmp_path / "compared"), "--figure-images", "0", env=elsewhere)
    assert r.returncode == 0, r.stderr[-3000:]
    [row] = csv.DictReader(open(tmp_path / "compared" / "comparison.csv"))
    assert float(row["accuracy_mean"]) == pytest.approx(100 * s11["test_accuracy"], abs=1e-3)
    assert float(row["auc_mean"]) == pytest.approx(s11["auc"]["grad"], abs=0.05)
