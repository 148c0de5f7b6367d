"""scripts/local_cluster.sh, as README documents it: start a local cluster (127.0.0.1, token auth
on), take its export lines and submit command, submit a job, stop the cluster. It runs beside the
session's cluster, on ports of its own, and `stop` ends only its own processes."""

import os
import shlex
import subprocess

import pytest

from tests.conftest import REPO
from tests.integration.conftest import free_port, public_listeners

pytestmark = pytest.mark.integration
SCRIPT = str(REPO / "scripts" / "local_cluster.sh")


@pytest.mark.slow
def test_a_job_submitted_the_documented_way_finishes(real_data_root, ray_cluster, tmp_path):
    env = dict(os.environ, SMOOT_HOME=str(tmp_path / "home"), SMOOT_RAY_PORT=str(free_port()),
               SMOOT_DASHBOARD_PORT=str(free_port()))
    for key in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN"):
        env.pop(key, None)  # a fresh shell: nothing but what the script prints
    started = subprocess.run([SCRIPT, "start"], env=env, capture_output=True, text=True, timeout=300)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        lines = started.stdout.splitlines()
        exports = dict(line[len("export "):].split("=", 1) for line in lines if line.startswith("export "))
        assert exports["RAY_AUTH_MODE"] == "token" and len(exports["RAY_AUTH_TOKEN"]) == 64
        [submit] = [line for line in lines if " job submit " in line]
        again = subprocess.run([SCRIPT, "env"], env=env, capture_output=True, text=True)
        assert [f"export {k}={v}" for k, v in exports.items()] == again.stdout.splitlines()

        cmd = shlex.split(submit) + ["--epochs", "1", "--train-subset", "500", "--test-subset",
                                     "200", "--eval-images", "100", "--no-tracking",
                                     "--storage-path", str(tmp_path / "runs")]
        job = subprocess.run(cmd, env=dict(env, **exports), cwd=str(REPO), capture_output=True,
                             text=True, timeout=900)
        assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
        assert "succeeded" in job.stdout + job.stderr
        log = job.stdout.splitlines()
        # one end-of-epoch line, and progress within the epoch (a line each 10% off a terminal)
        assert sum(line.startswith("epoch 1/1 ") for line in log) == 1, job.stdout[-3000:]
        assert sum(line.lstrip().startswith("epoch 1/1  step ") for line in log) >= 1
        assert "| Accuracy | AUC" in job.stdout
        assert "TrainingReport(" not in job.stdout + job.stderr
        # only 127.0.0.1: no new listener on another address
        assert not public_listeners() - ray_cluster["public_before"]
        # a second start while it runs: one line, exit 2
        twice = subprocess.run([SCRIPT, "start"], env=env, capture_output=True, text=True)
        assert twice.returncode == 2 and twice.stderr.startswith("error: the local cluster is already")
    finally:
        stopped = subprocess.run([SCRIPT, "stop"], env=env, capture_output=True, text=True, timeout=120)
    assert stopped.stdout.strip() == "local Ray cluster stopped"
    # the session's cluster still answers
    check = subprocess.run([str(REPO / ".venv/bin/ray"), "status", "--address",
                            ray_cluster["address"]], env=ray_cluster["env"], capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0, check.stderr[-2000:]


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
