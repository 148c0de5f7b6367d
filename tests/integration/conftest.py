"""Services for the integration tests: one real local Ray cluster and one MLflow server per
session, both bound to 127.0.0.1 and stopped at the end."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import tempfile
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from smoot_dist.launch.ray_cluster import free_port
from tests.helpers.s3_server import S3_ENV

BIN = Path(sys.executable).parent


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None,
              any_status: bool = False) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            response = requests.get(url, timeout=2)
            if response.ok or any_status:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def session_members(sid: int) -> list[int]:
    """The processes of one process session (`ray start` in a session of its own: its head and
    every process the head starts)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[3]) == sid:  # field 6: the session id
            pids.append(int(pid))
    return pids


# A node with disks of its own (scripts/private_node.sh: a private tmpfs over /tmp and ~, what a
# real node's setup installs kept read-only: the script says what).
PRIVATE_NODE = Path(__file__).resolve().parents[2] / "scripts" / "private_node.sh"


def private_disk_available() -> str | None:
    """None where a node can have private disks here (unshare --mount, as root); else why not."""
    probe = subprocess.run(["bash", str(PRIVATE_NODE), "--check"], capture_output=True, text=True)
    return None if probe.returncode == 0 else probe.stdout.strip()


def start_ray_node(args: list[str], env: dict[str, str], *, private_disks: bool = False,
                   ray_temp: str | None = None) -> int:
    """`ray start ARGS` in a process session of its own; returns the session id to stop it by.
    Ray's fixed default ports (agent, metrics, client server) are replaced by free ones, so
    these nodes never meet another Ray on the machine, a user's or another test's.
    `private_disks`: the node has disks of its own (scripts/private_node.sh). A node joining a
    head takes the head's Ray temporary folder (`ray_temp`: its sockets and logs go there, Ray
    ignores --temp-dir off the head); a private node gets its own, empty folder of that name in
    its own /tmp."""
    ports = [f"--dashboard-agent-listen-port={free_port()}", f"--metrics-export-port={free_port()}",
             f"--ray-client-server-port={free_port()}"]
    command = [str(BIN / "ray"), "start", *args, *ports]
    if private_disks:
        command = ["bash", str(PRIVATE_NODE), sys.executable, ray_temp or "/tmp/ray", "--", *command]
    # `ray start` gives the raylet a fixed 30 s to register, which a CI machine busy with the
    # other tests can exceed: one more try then (scripts/local_cluster.sh does the same)
    for _ in range(2):
        proc = subprocess.Popen(command, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        out, _ = proc.communicate(timeout=180)
        if proc.returncode == 0:
            return proc.pid
        stop_sessions([proc.pid])  # what it did start (a log monitor, a GCS) goes with it
        if "timed out during startup" not in out:
            break
    raise AssertionError(out[-3000:])


def stop_sessions(sessions: list[int]) -> None:
    """Kill the processes of those sessions, and only them (`ray stop` would stop every Ray
    on the machine)."""
    for sid in sessions:
        for pid in session_members(sid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """`ray start --head` on 127.0.0.1 with the dashboard (the Jobs API) on; stopped after
    (its processes only: another Ray on the machine keeps running).

    Token authentication on, with a token of this session's own: every client (the CLI, the
    job driver, the test's own runs) gets it through `env`."""
    gcs, dash = free_port(), free_port()
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32),
               # the test S3 server's credentials on every node, as a real cluster's nodes have
               # theirs (an instance role, the environment): Ray Train's checkpoint uploads
               **S3_ENV,
               # single machine: every Ray process binds to 127.0.0.1 (see smoot_dist/local_ray.py)
               RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    env.pop("RAY_ADDRESS", None)
    # 3 logical CPUs on 2 cores: two training workers and, beside them, one CPU for the Ray Data
    # decode tasks of a streamed run (Ray Data schedules nothing while workers hold every CPU).
    # a short path: Ray's socket paths under it must fit the 107 characters Unix allows
    temp = tempfile.mkdtemp(prefix="smoot-test-ray-")
    args = ["--head", "--node-ip-address=127.0.0.1", f"--port={gcs}", "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dash}", "--include-dashboard=true", "--num-cpus=3",
            "--object-store-memory=200000000", "--disable-usage-stats", f"--temp-dir={temp}"]
    before = public_listeners()
    session = start_ray_node(args, env)
    dashboard = f"http://127.0.0.1:{dash}"
    try:
        wait_http(f"{dashboard}/api/version", 90, any_status=True)  # 401 without the token
        yield {"address": f"127.0.0.1:{gcs}", "dashboard": dashboard, "env": env,
               "public_before": before}
    finally:
        stop_sessions([session])
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory, s3_server):
    """A real MLflow tracking server on 127.0.0.1: SQLite backend, artifacts proxied to the test
    S3 server's bucket (`s3://bucket/mlartifacts`), as a cluster's server keeps them. Only the
    server holds the S3 credentials: clients upload and download through it."""
    root = tmp_path_factory.mktemp("mlflow_server")
    port = free_port()
    env = dict(os.environ, **s3_server.env, MLFLOW_S3_ENDPOINT_URL=f"http://{s3_server.endpoint}")
    log = open(root / "server.log", "wb")
    proc = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", "s3://bucket/mlartifacts", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, cwd=str(root), env=env)
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{uri}/health", 120, proc)
        yield uri
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _socket_owners() -> dict[str, str]:
    """socket inode -> the owning process's title (e.g. 'ray::RayTrainWorker')."""
    owners = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            title = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0].decode(errors="replace")
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    owners[target[8:-1]] = title
        except OSError:
            continue
    return owners


def public_listeners() -> set[tuple[str, int, str]]:
    """TCP sockets in LISTEN state on any address but the loopback one, with their owner."""
    found, owners = set(), _socket_owners()
    for name, width in (("tcp", 8), ("tcp6", 32)):
        try:
            lines = open(f"/proc/net/{name}").read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A":  # LISTEN
                continue
            addr, port = local.split(":")
            loopback = (addr == "0100007F" if width == 8 else
                        addr in ("00000000000000000000000001000000", "0000000000000000FFFF00000100007F"))
            if not loopback:
                found.add((addr, int(port, 16), owners.get(inode, "?")))
    return found


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    """For a run in two pytest-xdist workers (`-n 2 --dist loadgroup`): the tests that use a Ray
    cluster all go to one of them, one after another, so the session's cluster starts once and
    two Rays never share the 2 cores. Every other integration module goes to one worker whole,
    so that its module-scoped runs are trained once (split over both workers, each would train
    them: measured, test_engine_real_data's three runs twice, 70 s each). The groups come first
    (a stable sort), the Ray one first of all: the longest units of work start at once, the
    unit tests fill in."""
    for item in items:
        if {"ray_cluster", "one_worker_cluster"} & set(item.fixturenames):
            item.add_marker(pytest.mark.xdist_group("ray"))
        elif "integration" in item.path.parts and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))

    def order(item) -> int:
        group = item.get_closest_marker("xdist_group")
        return 0 if group and group.args == ("ray",) else 1 if group else 2
    items.sort(key=order)
