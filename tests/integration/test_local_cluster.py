"""scripts/local_cluster.sh, as README and docs/cluster.md document it: start a local cluster
(127.0.0.1, token auth on) or the rehearsal cluster (S3 and tracking servers, a second node with
disks of its own), take its export lines and submit command, submit a job and a sweep, stop the
cluster. It runs beside the session's cluster, on ports of its own, and `stop` ends only its own
processes."""

import json
import os
import shlex
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import REPO
from tests.helpers.s3_server import S3_ENV, S3Server
from tests.integration.conftest import free_port, private_disk_available, public_listeners

pytestmark = pytest.mark.integration
SCRIPT = str(REPO / "scripts" / "local_cluster.sh")


def _fresh_shell(tmp_path):
    """A shell with nothing but what the script prints, and ports of this test's own."""
    env = dict(os.environ, SMOOT_HOME=str(tmp_path / "home"), SMOOT_RAY_PORT=str(free_port()),
               SMOOT_DASHBOARD_PORT=str(free_port()))
    for key in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", *S3_ENV):
        env.pop(key, None)
    return env


def _started(started):
    """(the export lines as a dict, the submit command) of a successful start."""
    lines = started.stdout.splitlines()
    exports = dict(line[len("export "):].split("=", 1) for line in lines if line.startswith("export "))
    assert exports["RAY_AUTH_MODE"] == "token" and len(exports["RAY_AUTH_TOKEN"]) == 64
    [submit] = [line for line in lines if " job submit " in line]
    return exports, submit


def _stop(env, ray_cluster):
    stopped = subprocess.run([SCRIPT, "stop"], env=env, capture_output=True, text=True, timeout=120)
    assert stopped.stdout.strip() == "local Ray cluster stopped"
    # the session's cluster still answers
    check = subprocess.run([str(REPO / ".venv/bin/ray"), "status", "--address",
                            ray_cluster["address"]], env=ray_cluster["env"], capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0, check.stderr[-2000:]


def _submit(command, exports, env):
    job = subprocess.run(command, env=dict(env, **exports), cwd=str(REPO), capture_output=True,
                         text=True, timeout=900)
    assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
    assert "succeeded" in job.stdout + job.stderr
    return job.stdout


@pytest.mark.slow
def test_the_plain_cluster_starts_prints_its_lines_and_stops(ray_cluster, tmp_path):
    env = _fresh_shell(tmp_path)
    started = subprocess.run([SCRIPT, "start"], env=env, capture_output=True, text=True, timeout=300)
    # a start that fails stops what it started (the script's own rule): nothing to stop then
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        exports, submit = _started(started)
        assert submit.endswith("jobs/train.py --workers 2") and "AWS_ACCESS_KEY_ID" not in exports
        # only 127.0.0.1: no new listener on another address
        assert not public_listeners() - ray_cluster["public_before"]
        again = subprocess.run([SCRIPT, "env"], env=env, capture_output=True, text=True)
        assert [f"export {k}={v}" for k, v in exports.items()] == again.stdout.splitlines()
        # a second start while it runs: one line, exit 2
        twice = subprocess.run([SCRIPT, "start", "--rehearsal"], env=env, capture_output=True,
                               text=True)
        assert twice.returncode == 2 and twice.stderr.startswith("error: the local cluster is already")
    finally:
        _stop(env, ray_cluster)


@pytest.mark.slow
def test_the_rehearsal_cluster_runs_a_submitted_job_and_a_sweep_on_s3(real_data_root, ray_cluster,
                                                                      tmp_path):
    """The cluster path on one machine, as README's cluster page shows it: an S3 server, a
    tracking server keeping its artifacts in the bucket, a second node with disks of its own;
    a job and a 2-trial sweep submitted from this (third) process, everything on S3."""
    env = _fresh_shell(tmp_path)
    started = subprocess.run([SCRIPT, "start", "--rehearsal"], env=env, capture_output=True,
                             text=True, timeout=600)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        exports, submit = _started(started)
        why_not = private_disk_available()
        assert ("a second node with disks of its own" in started.stdout) == (why_not is None), \
            (why_not, started.stdout)
        command = shlex.split(submit)
        storage = command[command.index("--storage-path") + 1]
        tracking = command[command.index("--tracking-uri") + 1]
        small = ["--epochs", "1", "--train-subset", "500", "--test-subset", "200",
                 "--eval-images", "100"]
        log = _submit(command + [*small, "--run-name", "rehearsed"], exports, env).splitlines()
        # one end-of-epoch line, and progress within the epoch (a line each 10% off a terminal)
        assert sum(line.startswith("epoch 1/1 ") for line in log) == 1, log[-30:]
        assert sum(line.lstrip().startswith("epoch 1/1  step ") for line in log) >= 1
        assert "| Accuracy | AUC" in "\n".join(log) and "TrainingReport(" not in "\n".join(log)
        # the sweep: one trial on each node (1 CPU each), the node without the head's disk included
        sweep = [*command[:command.index("jobs/train.py")], "jobs/sweep.py", "--num-samples", "2",
                 "--max-concurrent", "2", "--workers-per-trial", "1", "--val-images", "200",
                 *small, "--storage-path", storage, "--tracking-uri", tracking]
        out = _submit(sweep, exports, env)
        assert "(of the 2 trained for 1 epoch(s))" in out, out[-3000:]

        # what lives where: the run and the trials' runs in the bucket, their MLflow runs on the
        # server, whose artifacts are in the bucket too
        endpoint = parse_qs(urlsplit(storage).query)["endpoint_override"][0]
        s3_port = int(endpoint.rsplit(":", 1)[1])
        bucket = S3Server(s3_port, tmp_path / "unused.log",
                          env={k: v for k, v in exports.items() if k.startswith("AWS_")})
        runs = bucket.objects(storage)
        assert {"rehearsed/run.json", "rehearsed/summary.json", "rehearsed/model.pt"} <= set(runs)
        trials = {k.split("/")[0] for k in runs if k.startswith("sweep-") and k.endswith("/run.json")}
        assert len(trials) == 2, sorted(runs)[:40]
        # the sweep's outcome beside them (the driver's disk is the head's alone)
        [outcome] = [k.split("/")[0] for k in runs if k.endswith("/best_config.yaml")]
        assert {f"{outcome}/{name}" for name in ("sweep.json", "trials.csv", "trials.md")} <= set(runs)
        assert json.loads(runs[f"{outcome}/sweep.json"])["sweep"] == outcome
        assert f"smoot/runs/{outcome}/" in out  # the sweep's last line says where
        client = MlflowClient(tracking)
        [run] = client.search_runs(client.get_experiment_by_name("smoot_dist").experiment_id,
                                   "attributes.run_name = 'rehearsed'")
        assert run.info.status == "FINISHED"
        artifacts = bucket.objects("smoot/mlartifacts")
        assert any(k.endswith(f"{run.info.run_id}/artifacts/summary.json") for k in artifacts)
        # the S3 and MLflow servers listen on 127.0.0.1 only (Ray's multi-node mode, which a
        # second node needs, has some of its processes listen on every interface)
        ports = {s3_port, int(tracking.rsplit(":", 1)[1])}
        assert not {port for _, port, _ in public_listeners()} & ports
    finally:
        _stop(env, ray_cluster)
    with pytest.raises(OSError):  # the S3 server went with the cluster
        bucket.objects(storage)


PROBE = """
import ray
from smoot_dist.launch.ray_cluster import connect

connect(None)


@ray.remote(num_cpus=0)
class Probe:
    def ping(self):
        return 1


probe = Probe.options(name="smoot-state-probe").remote()
ray.get(probe.ping.remote())


@ray.remote(num_cpus=0)
def named_here():  # what Ray Train's placement-group cleaner does: the state API, from a worker
    from ray.util.state import list_actors
    return len(list_actors(filters=[("name", "=", "smoot-state-probe"), ("state", "=", "ALIVE")]))


print("found", ray.get(named_here.remote()))
"""


@pytest.mark.slow
def test_a_local_ray_beside_another_asks_its_own_state_api(ray_cluster, tmp_path):
    """A job's local Ray while another Ray runs on the machine (the session's): its workers'
    state-API calls reach its own dashboard. They used to look for "the" Ray on the machine,
    found two (or the other), and Ray Train's cleaner of a stopped Tune trial died, leaving the
    trial's CPU reserved for good."""
    env = dict(os.environ, SMOOT_HOME=str(tmp_path / "home"))
    env.pop("RAY_ADDRESS", None)
    r = subprocess.run([str(REPO / ".venv/bin/python"), "-c", PROBE], env=env, cwd=str(REPO),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split()[-2:] == ["found", "1"], r.stdout[-2000:]
