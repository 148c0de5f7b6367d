"""Reliability on a real Ray cluster: a killed worker, a restarted driver, determinism."""

import glob
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from smoot_dist.method.mask_state import read_mask_parquet
from smoot_dist.training.checkpoint import completed_epochs, k_digest
from tests.conftest import PYTHON, REPO, mlflow_store, run_job
from tests.integration.conftest import public_listeners

pytestmark = pytest.mark.integration


def _args(tmp_path, cluster, name, *extra, images=4000):
    # 4000 images: epochs long enough (~8 s here) that a kill 2 s after a checkpoint lands
    # inside the next
    return ["--dataset", "fashion_mnist", "--method", "smoot", "--train-subset", str(images),
            "--test-subset", "500", "--eval-images", "100", "--workers", "2", "--epochs", "3",
            "--run-name", name,
            "--storage-path", str(tmp_path), "--tracking-uri", mlflow_store(tmp_path / "mlflow.db"),
            "--ray-address", cluster["address"], "--summary-json", str(tmp_path / f"{name}.json"),
            "--no-progress", *extra]


def _start(args, cluster, log):
    return subprocess.Popen([PYTHON, str(REPO / "jobs" / "train.py"), *args], env=cluster["env"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO), start_new_session=True)


def _checkpoints(folder: Path, digests: dict[int, tuple[str, float]]) -> None:
    """Record the mask-state digest of every Ray checkpoint as soon as it is complete."""
    for d in glob.glob(str(folder / "checkpoint_2*")):
        try:
            epochs = len(json.loads(Path(d, "history.json").read_text())["history"])
            if epochs not in digests:
                digests[epochs] = (k_digest(read_mask_parquet(Path(d, "mask_state.parquet"))), time.time())
        except (OSError, ValueError, KeyError, Exception):
            pass  # still being written


def _wait_for(proc, folder, digests, epochs, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline and epochs not in digests:
        _checkpoints(folder, digests)
        assert proc.poll() is None, "the run ended early"
        time.sleep(0.2)
    assert epochs in digests, f"no checkpoint of epoch {epochs} within {timeout} s"


def _worker_pids(cluster):
    """The Ray Train workers of this test's cluster (not another Ray's on the machine): its
    processes carry the cluster's own auth token in their environment."""
    out = subprocess.run(["pgrep", "-f", "ray::RayTrainWorker"], capture_output=True, text=True).stdout
    token = f"RAY_AUTH_TOKEN={cluster['env']['RAY_AUTH_TOKEN']}".encode()
    mine = []
    for pid in map(int, out.split()):
        try:
            if token in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                mine.append(pid)
        except OSError:
            pass  # gone meanwhile
    return mine


def _mlflow_epochs(tmp_path, summary):
    client = MlflowClient(summary["mlflow"]["tracking_uri"])
    runs = client.search_runs([client.get_experiment_by_name("smoot_dist").experiment_id])
    assert [r.info.run_name for r in runs] == [summary["run_name"]]  # one MLflow run, not two
    return sorted(m.step for m in client.get_metric_history(runs[0].info.run_id, "test_accuracy"))


@pytest.mark.slow
def test_killed_worker_costs_at_most_the_epoch_in_flight(real_data_root, ray_cluster, tmp_path):
    digests: dict[int, tuple[str, float]] = {}
    with open(tmp_path / "log.txt", "w") as log:
        proc = _start(_args(tmp_path, ray_cluster, "killed", "--max-failures", "2"), ray_cluster, log)
        _wait_for(proc, tmp_path / "killed", digests, 1)
        time.sleep(2.0)  # into epoch 2
        pids = _worker_pids(ray_cluster)
        assert len(pids) == 2, pids
        # Security default: with the cluster, its controller and both workers up, no Ray service
        # listens beyond 127.0.0.1. The one exception is PyTorch's: rank 0 hosts the
        # torch.distributed rendezvous store (TCPStore), which binds all interfaces and has no
        # bind-address option; it serves this run's ranks for the run's duration.
        extra = public_listeners() - ray_cluster["public_before"]
        assert len(extra) <= 1 and all("RayTrainWorker" in owner for _a, _p, owner in extra), extra
        os.kill(pids[-1], signal.SIGKILL)
        killed_at = time.time()
        while proc.poll() is None:
            _checkpoints(tmp_path / "killed", digests)
            time.sleep(0.2)
    assert proc.returncode == 0, (tmp_path / "log.txt").read_text()[-3000:]
    summary = json.loads((tmp_path / "killed.json").read_text())
    (resume,) = summary["resumes"]
    # It resumed from the last checkpoint before the kill, with that mask state, bit for bit.
    assert resume["workers"] == 2 and resume["epoch"] in (1, 2)
    assert resume["k_sha256"] == digests[resume["epoch"]][0]
    assert [e["epoch"] for e in summary["epochs"]] == [1, 2, 3]
    assert _mlflow_epochs(tmp_path, summary) == [1, 2, 3]  # no epoch missing or logged twice
    epoch_s = summary["epochs"][0]["epoch_time_s"]
    recovered = digests[resume["epoch"] + 1][1] - killed_at
    print(f"\nworker kill -> next checkpoint: {recovered:.1f} s (an epoch takes {epoch_s:.1f} s)")


@pytest.mark.slow
def test_restarted_driver_continues_the_run(real_data_root, ray_cluster, tmp_path):
    digests: dict[int, tuple[str, float]] = {}
    # shorter epochs than the killed worker's: the signal follows a checkpoint whenever it
    # lands, and a resume takes whichever checkpoint was the newest when the driver was gone
    args = _args(tmp_path, ray_cluster, "restarted", images=2000)
    with open(tmp_path / "log.txt", "w") as log:
        proc = _start(args, ray_cluster, log)
        _wait_for(proc, tmp_path / "restarted", digests, 1)
        # What `ray job stop`, Kubernetes and Slurm send; Ctrl-C (SIGINT) takes the same
        # handler (launch/ray_train.py _Trainer) and ends in KeyboardInterrupt, exit 130.
        os.kill(proc.pid, signal.SIGTERM)
        pressed = time.time()
        proc.wait(timeout=120)
    # As with --workers 0: the run is aborted within seconds and the job says so.
    stopped = time.time() - pressed
    print(f"\nSIGTERM -> driver gone: {stopped:.1f} s")
    assert proc.returncode == 143 and stopped < 30, (tmp_path / "log.txt").read_text()[-3000:]
    assert (tmp_path / "log.txt").read_text().rstrip().endswith("interrupted (SIGTERM)")
    assert "Traceback" not in (tmp_path / "log.txt").read_text()
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("smoot_dist").experiment_id])
    assert run.info.status == "KILLED"
    # Every checkpoint published before the driver was gone: on a slow machine epoch 2 can end
    # (and be checkpointed) between the signal and the exit, and the resume must take it.
    _checkpoints(tmp_path / "restarted", digests)
    again = run_job("train.py", *args, env=ray_cluster["env"])  # the same command again
    assert again.returncode == 0, again.stderr[-3000:]
    assert "(resuming)" in again.stdout
    summary = json.loads((tmp_path / "restarted.json").read_text())
    (resume,) = summary["resumes"]
    # from the newest checkpoint on disk, with its exact mask state
    assert resume["epoch"] == max(digests) and resume["k_sha256"] == digests[resume["epoch"]][0]
    assert [e["epoch"] for e in summary["epochs"]] == [1, 2, 3]
    assert _mlflow_epochs(tmp_path, summary) == [1, 2, 3]


def _seed11_args(tmp_path, cluster, name, epochs):
    return ["--dataset", "fashion_mnist", "--method", "smoot", "--train-subset", "1000",
            "--test-subset", "300", "--eval-images", "100", "--workers", "2", "--epochs",
            str(epochs), "--seed", "11", "--run-name", name, "--storage-path", str(tmp_path),
            "--no-tracking", "--no-progress", "--ray-address", cluster["address"],
            "--summary-json", str(tmp_path / f"{name}-{epochs}.json")]


@pytest.fixture(scope="module")
def seed11_runs(real_data_root, ray_cluster, tmp_path_factory):
    """Two runs of one command but their names (seed 11, 2 workers, 2 epochs), and their
    summaries as they were when they finished: the determinism test reads these, and the
    damaged-checkpoint test then damages run b (a Ray job costs ~20 s before its first step)."""
    root = tmp_path_factory.mktemp("seed11")
    summaries = {}
    for name in ("a", "b"):
        r = run_job("train.py", *_seed11_args(root, ray_cluster, name, 2), env=ray_cluster["env"])
        assert r.returncode == 0, r.stderr[-2000:]
        summaries[name] = json.loads((root / f"{name}-2.json").read_text())
    return {"root": root, "summaries": summaries}


@pytest.mark.slow
def test_same_seed_and_world_size_give_the_same_run(seed11_runs):
    a, b = seed11_runs["summaries"]["a"], seed11_runs["summaries"]["b"]
    assert a["k_sha256"] == b["k_sha256"]  # the final K vector, bit for bit
    strip = lambda e: {k: v for k, v in e.items() if not k.endswith("time_s")}  # noqa: E731
    assert [strip(e) for e in a["epochs"]] == [strip(e) for e in b["epochs"]]


@pytest.mark.slow
def test_a_damaged_newest_ray_checkpoint_is_skipped(seed11_runs, ray_cluster):
    root = seed11_runs["root"]
    ray_checkpoints = list((root / "b").glob("checkpoint_2*"))
    assert len(ray_checkpoints) == 2
    newest = max(ray_checkpoints, key=completed_epochs)
    state = newest / "state.pt"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])  # truncated
    again = run_job("train.py", *_seed11_args(root, ray_cluster, "b", 3), env=ray_cluster["env"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert (f"warning: skipping damaged checkpoint {newest.name} (state.pt was altered or truncated"
            in again.stdout)
    summary = json.loads((root / "b-3.json").read_text())
    assert [r["epoch"] for r in summary["resumes"]] == [1]
    assert [e["epoch"] for e in summary["epochs"]] == [1, 2, 3]
    assert "Traceback" not in again.stderr


@pytest.mark.parametrize("args,message", [
    (["--workers", "8"], "8 Ray Train worker(s) need 8 CPU in all (one CPU each), but the Ray "
                         "cluster has 3 CPU and 0 GPU; use --workers 3 or fewer"),
    (["--workers", "1", "--use-gpu"], "1 Ray Train worker(s) need 1 GPU in all (one GPU each), but "
                                      "the Ray cluster has 3 CPU and 0 GPU; drop --use-gpu"),
])
def test_impossible_resource_requests_are_refused_at_once(real_data_root, ray_cluster, tmp_path,
                                                          args, message):
    started = time.time()
    r = run_job("train.py", *args, "--train-subset", "200", "--no-tracking", "--storage-path",
                str(tmp_path), "--ray-address", ray_cluster["address"], env=ray_cluster["env"],
                timeout=180)
    assert r.returncode == 2 and message in r.stderr, r.stderr[-2000:]
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert time.time() - started < 60 and not list(tmp_path.iterdir())
