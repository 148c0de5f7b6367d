"""A run on S3-compatible storage (moto's server on 127.0.0.1), as a cluster whose nodes share no
disk keeps it: the whole run folder lives at its storage path, and other machines (empty
SMOOT_HOMEs) continue it there on another worker count, evaluate, explain and compare it; a
store that goes away during a checkpoint's upload ends the job with one line, and the run
resumes when it is back."""

import csv
import json
import subprocess
import time

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from smoot_dist.method.mask_state import read_mask_parquet
from smoot_dist.training.checkpoint import k_digest
from tests.conftest import PYTHON, REPO, expect_one_line, mlflow_store, run_job
from tests.helpers.tcp_outage import TcpOutage
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration

# the run's name is the one `reproduce.py --id s3` gives its SMOOT seed-0 run, so that a
# reproduction on another machine finds it at the storage path
RUN = "repro-s3-fashion_mnist-smoot-s0"


@pytest.mark.slow
def test_a_run_on_s3_resumes_elsewhere_on_another_worker_count(real_data_root, ray_cluster,
                                                               s3_server, tmp_path):
    uri = s3_server.uri("bucket", "runs")
    store = mlflow_store(tmp_path / "mlflow.db")
    where = ("--storage-path", uri, "--ray-address", ray_cluster["address"],
             "--tracking-uri", store)
    env_a = {**ray_cluster["env"], **s3_server.env, "SMOOT_HOME": str(tmp_path / "a")}
    first = run_job("train.py", "--dataset", "fashion_mnist", "--method", "smoot",
                    "--train-subset", "2000", "--test-subset", "400", "--eval-images", "100",
                    "--run-name", RUN, *where, "--workers", "2", "--epochs", "1",
                    "--summary-json", str(tmp_path / "s1.json"), env=env_a)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    # a quiet console: each epoch once (from the driver), none of Ray's report dumps, internal
    # warnings or colour codes; off a terminal, rank 0's progress within the epoch comes
    # through the driver's relay (8 steps of 256 over 2 workers: a line at each 10%)
    console = first.stdout + first.stderr
    lines = first.stdout.splitlines()
    assert sum(line.startswith("epoch 1/1 ") for line in lines) == 1
    steps = [line.split("(")[0].strip() for line in lines if line.startswith("  epoch 1/1  step")]
    assert steps == [f"epoch 1/1  step {s}/8" for s in range(1, 8)]
    for noise in ("TrainingReport(", "core_worker.cc", "\x1b[", "RayTrainWorker"):
        assert noise not in console, noise
    s1 = json.loads((tmp_path / "s1.json").read_text())

    # the run folder lives at the storage path: every file of it, beside Ray's checkpoints
    run = {k[len(RUN) + 1:]: v for k, v in s3_server.objects(uri).items()
           if k.startswith(f"{RUN}/")}
    [closing] = {k.split("/")[1] for k in run if k.startswith("evaluation/")}
    mirrored = {"run.json", "config.yaml", "summary.json", "model.pt", "mask_state.parquet",
                "k_histogram.png", f"evaluation/{closing}/metrics.json",
                f"evaluation/{closing}/metrics.csv"}
    assert mirrored <= set(run), sorted(run)
    assert any(k.startswith("checkpoint_") and k.endswith("/state.pt") for k in run)  # Ray's
    assert "run.lock" not in run
    # the objects are the local folder's files, byte for byte: that folder is only a cache
    [folder] = list((tmp_path / "a" / "remote").glob(f"s3/*/{RUN}"))
    assert s1["run_dir"] == str(folder)
    for rel in mirrored:
        assert (folder / rel).read_bytes() == run[rel], rel
    (tmp_path / "mask.parquet").write_bytes(run["mask_state.parquet"])
    checkpointed = k_digest(read_mask_parquet(tmp_path / "mask.parquet", 2000))
    # the credentials appear in no record and no output
    for text in (console, *(run[k].decode() for k in ("run.json", "config.yaml", "summary.json"))):
        assert s3_server.env["AWS_SECRET_ACCESS_KEY"] not in text

    # another machine, nothing local: `--resume` alone takes the latest run at the storage path
    # and its recorded config (dataset, method, subsets, tracking store, ...); only how and how
    # long it runs is given again
    env_b = {**env_a, "SMOOT_HOME": str(tmp_path / "b")}
    second = run_job("train.py", "--resume", "--workers", "1", "--epochs", "2", "--storage-path",
                     uri, "--ray-address", ray_cluster["address"], "--no-progress",
                     "--summary-json", str(tmp_path / "s2.json"), env=env_b)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-3000:]
    s2 = json.loads((tmp_path / "s2.json").read_text())
    # The state re-sharded from 2 workers to 1 and gathered back is the checkpointed one, bit for bit.
    assert s2["resumes"] == [{"epoch": 1, "workers": 1, "k_sha256": checkpointed}]
    assert "resumed after epoch 1 on 1 worker(s)\nepoch 2/2 " in second.stdout
    assert [e["epoch"] for e in s2["epochs"]] == [1, 2]
    assert s2["epochs"][0] == s1["epochs"][0]  # epoch 1 is carried over, not re-run
    assert s2["mlflow"]["run_id"] == s1["mlflow"]["run_id"]  # one MLflow run across the restart
    assert s2["run_dir"].startswith(str(tmp_path / "b"))
    assert json.loads(s3_server.objects(uri)[f"{RUN}/summary.json"]) == s2
    assert not (tmp_path / "b" / "runs").exists()  # nothing went to the local runs root
    client = MlflowClient(store)
    # nor in the MLflow run's params and tags
    logged = client.get_run(s2["mlflow"]["run_id"]).data
    for value in (*logged.params.values(), *logged.tags.values()):
        assert s3_server.env["AWS_SECRET_ACCESS_KEY"] not in value
        assert s3_server.env["AWS_ACCESS_KEY_ID"] not in value
    assert [m.step for m in client.get_metric_history(s2["mlflow"]["run_id"], "test_accuracy")] == [1, 2]
    # the step metrics, logged by the driver: epoch 2's steps continue after epoch 1's
    ce = client.get_metric_history(s2["mlflow"]["run_id"], "train_ce_step")
    assert sorted(m.step for m in ce) == list(range(1, 17))
    # MLflow's system metrics, of the driver (the workers never write to MLflow)
    assert any(k.startswith("system/cpu_utilization") for k in client.get_run(
        s2["mlflow"]["run_id"]).data.metrics)

    # a third machine evaluates, explains and compares the run from the storage path alone
    env_c = {**env_a, "SMOOT_HOME": str(tmp_path / "c")}
    r = run_job("evaluate.py", RUN, "--storage-path", uri, "--methods", "grad",
                "--metrics", "morf", "--test-subset", "50", "--no-tracking", env=env_c)
    assert r.returncode == 0, r.stderr[-3000:]
    objects = s3_server.objects(uri)
    [protocol] = {k.split("/")[2] for k in objects if k.startswith(f"{RUN}/evaluation/")
                  and not k.split("/")[2].startswith("closing-")}
    record = json.loads(objects[f"{RUN}/evaluation/{protocol}/metrics.json"])
    assert record["num_images"] == 50 and record["run"] == RUN
    image = tmp_path / "mine" / "img.png"
    image.parent.mkdir()
    Image.fromarray((np.arange(784) % 255).astype(np.uint8).reshape(28, 28)).save(image)
    r = run_job("explain.py", RUN, str(image.parent), "--storage-path", uri,
                "--output-dir", str(tmp_path / "explained"), env=env_c)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "explained" / "explanations.csv").is_file()
    r = run_job("compare.py", "--runs", RUN, "--storage-path", uri, "--evaluation",
                protocol, "--output-dir", str(tmp_path / "compared"), "--figure-images", "0",
                env=env_c)
    assert r.returncode == 0, r.stderr[-3000:]
    [row] = csv.DictReader(open(tmp_path / "compared" / "comparison.csv"))
    assert float(row["accuracy_mean"]) == pytest.approx(100 * s2["test_accuracy"], abs=1e-3)
    assert float(row["auc_mean"]) == pytest.approx(record["metrics"]["auc"]["grad"], abs=1e-3)
    # ... and its reproduction (`--id`) finds the run trained and evaluated there: nothing is
    # trained or evaluated again, and the table holds the run's numbers
    r = run_job("reproduce.py", "--id", "s3", "--dataset", "fashion_mnist", "--methods", "smoot",
                "--train-subset", "2000", "--test-subset", "400", "--seeds", "1", "--epochs", "2",
                "--eval-images", "50", "--metrics", "morf",
                "--attributions", "grad", "--workers", "1", "--storage-path", uri,
                "--output-dir", str(tmp_path / "reproduced"), "--no-tracking", env=env_c)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "== fashion_mnist 1/1: smoot, seed 0 (finished before: reused)" in r.stdout
    assert "training smoot" not in r.stdout and "evaluating" not in r.stdout
    [row] = csv.DictReader(open(tmp_path / "reproduced" / "comparison.csv"))
    assert float(row["auc_mean"]) == pytest.approx(record["metrics"]["auc"]["grad"], abs=1e-3)
    assert not (tmp_path / "c" / "runs").exists()
    r = run_job("evaluate.py", "no-such-run", "--storage-path", uri, env=env_c)
    expect_one_line(r, "no run named 'no-such-run' under --storage-path s3://bucket/runs")

    # a name whose prefix holds objects that are no run: refused, never written over
    with s3_server.filesystem().open_output_stream("bucket/runs/theirs/notes.txt") as out:
        out.write(b"mine")
    r = run_job("train.py", "--workers", "1", "--epochs", "1", "--run-name", "theirs", *where,
                env=env_c)
    expect_one_line(r, "holds objects under theirs/ but no run record")
    assert s3_server.objects(uri)["theirs/notes.txt"] == b"mine"

    # a damaged latest checkpoint at the storage path (Ray Train hands a worker only its
    # latest): kept aside there, the run goes on from the one before, and says that MLflow's
    # epoch 2 is trained again
    before = sorted({k.split("/")[1] for k in s3_server.objects(uri)
                     if k.startswith(f"{RUN}/checkpoint_") and k.count("/") == 2})
    assert len(before) == 2  # epochs 1 and 2 (Ray keeps two)
    damaged = f"bucket/runs/{RUN}/{before[1]}"
    with s3_server.filesystem().open_output_stream(f"{damaged}/state.pt") as out:
        out.write(b"not a checkpoint")
    r = run_job("train.py", "--resume", RUN, "--workers", "1", "--epochs", "2", "--storage-path",
                uri, "--ray-address", ray_cluster["address"], "--no-progress",
                "--summary-json", str(tmp_path / "s3.json"), env=env_c)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert (f"warning: skipping damaged checkpoint {before[1]} (state.pt was altered or "
            in r.stdout), r.stdout[-2000:]
    assert (f"kept as {damaged}.damaged; resuming from {before[0]} "
            f"(epoch 1)\nresumed after epoch 1 on 1 worker(s)\n"
            f"note: MLflow run {s2['mlflow']['run_id']} has epochs 2-2 from before the checkpoint "
            f"this run resumes from (epoch 1)") in r.stdout
    s3 = json.loads((tmp_path / "s3.json").read_text())
    assert [e["epoch"] for e in s3["epochs"]] == [1, 2]  # epoch 2 trained again
    assert [r["epoch"] for r in s3["resumes"]] == [1]  # the lineage of epoch 1's checkpoint
    assert s3_server.objects(uri)[f"{RUN}/{before[1]}.damaged/state.pt"] == b"not a checkpoint"
    # each epoch reached MLflow once: epoch 2's first values are kept
    assert [m.step for m in client.get_metric_history(s3["mlflow"]["run_id"],
                                                      "test_accuracy")] == [1, 2]


@pytest.mark.slow
def test_a_store_gone_during_a_checkpoint_upload_stops_the_job_and_the_run_resumes(
        real_data_root, ray_cluster, s3_server, tmp_path):
    """The S3 server stops answering as epoch 2 ends (its checkpoint's upload) and stays away:
    Ray Train's upload retries and the run's worker-group restarts (--max-failures) are bounded,
    then one line and exit 2; epoch 1's checkpoint is intact in the bucket and the run's files
    are kept here. Back again, the same command resumes from epoch 1: each epoch once, one
    MLflow run."""
    proxy = TcpOutage(s3_server.port, free_port())  # the server as the job sees it
    uri = f"s3://bucket/outage?endpoint_override={proxy.endpoint}&scheme=http"
    store = mlflow_store(tmp_path / "mlflow.db")
    command = [PYTHON, str(REPO / "jobs/train.py"), "--dataset", "fashion_mnist", "--method",
               "smoot", "--train-subset", "2000", "--batch-size", "256", "--test-subset", "300",
               "--eval-images", "100", "--workers", "1", "--epochs", "2", "--run-name", "gone",
               "--storage-path", uri, "--tracking-uri", store,
               "--ray-address", ray_cluster["address"], "--summary-json", str(tmp_path / "s.json")]
    env = dict(ray_cluster["env"], SMOOT_HOME=str(tmp_path / "home"))
    out, err = open(tmp_path / "out.txt", "w"), open(tmp_path / "err.txt", "w")
    proc = subprocess.Popen(command, cwd=str(REPO), stdout=out, stderr=err, env=env)
    went_down = None
    try:
        deadline = time.monotonic() + 900
        while proc.poll() is None and time.monotonic() < deadline:
            # off a terminal, rank 0's progress comes a line each step here (8 of 256 images):
            # the 7th of epoch 2 is a few seconds before its checkpoint
            if went_down is None and "epoch 2/2  step 7/8" in (tmp_path / "out.txt").read_text():
                proxy.down()
                went_down = time.monotonic()
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
        out.close(), err.close()
    stopped = subprocess.CompletedProcess(command, proc.returncode, (tmp_path / "out.txt").read_text(),
                                          (tmp_path / "err.txt").read_text())
    assert went_down is not None, stopped.stdout[-3000:]
    expect_one_line(stopped, "the storage path did not answer a Ray Train worker")
    assert "run the same command again when it answers" in stopped.stderr
    print(f"\nstore gone: {time.monotonic() - went_down:.0f} s from the store going away to "
          f"the job's line")
    [cache] = (tmp_path / "home" / "remote").glob("s3/*/gone")
    assert {"run.json", "config.yaml"} <= {p.name for p in cache.iterdir()}  # kept here
    objects = s3_server.objects("bucket/outage/gone")  # the server itself, not the proxy
    histories = [json.loads(v)["history"] for k, v in objects.items()
                 if k.startswith("checkpoint_") and k.endswith("/history.json")]
    assert [len(h) for h in histories] == [1]  # epoch 1's checkpoint, whole: nothing of epoch 2
    assert {k.split("/")[1] for k in objects if k.startswith("checkpoint_") and "/" in k} == {
        "state.pt", "mask_state.parquet", "history.json"}

    proxy.up()
    again = subprocess.run(command, cwd=str(REPO), capture_output=True, text=True, env=env,
                           timeout=900)
    proxy.down()
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert [e["epoch"] for e in summary["epochs"]] == [1, 2]
    assert [r["epoch"] for r in summary["resumes"]] == [1]
    assert "note: MLflow run" not in again.stdout  # no replay of epoch 1 is announced
    client = MlflowClient(store)
    [run] = client.search_runs(client.get_experiment_by_name("smoot_dist").experiment_id)
    assert run.info.run_id == summary["mlflow"]["run_id"] and run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "test_accuracy")] == [1, 2]
