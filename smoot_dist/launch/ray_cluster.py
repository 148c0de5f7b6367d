"""Connecting to a Ray cluster, or starting a local one that serves this machine only.

Ray decides at import time whether it may form a multi-machine cluster; when it may not, every
Ray process binds to the loopback interface only (its macOS/Windows default; on Linux the
environment variable below asks for it). A job that starts its own local Ray sets it before Ray
is first imported; a job that joins a cluster (RAY_ADDRESS, --ray-address) leaves it alone.
"""

from __future__ import annotations

import logging
import math
import os
import socket

from ..foundations.deadline import first_line
from ..foundations.errors import UserError
from ..foundations.home import CHECKOUT
from ..foundations.signals import handle_sigterm

LOOPBACK_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
# Where Ray's state API clients (ray.util.state, Ray Train's controller) find the dashboard,
# before they look for a Ray on this machine themselves (ray.dashboard.utils).
API_SERVER_ENV = "RAY_API_SERVER_ADDRESS"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prefer_loopback_ray(address: str | None) -> None:
    """Before Ray's first import: a local Ray binds to 127.0.0.1 only."""
    if not (address or os.environ.get("RAY_ADDRESS")):
        os.environ.setdefault(LOOPBACK_ONLY_ENV, "0")


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """ray.init waits minutes on an address nobody answers at: knock first."""
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto", "local" or another form Ray resolves itself
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as err:
        raise UserError(f"cannot reach the Ray cluster at {address} ({err.strerror or type(err).__name__}); "
                        f"start it with `ray start --head`, fix --ray-address/RAY_ADDRESS, or unset "
                        f"it to run a local Ray") from None


def machine_cpus() -> int:
    """The CPU cores this process may run on (a container's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_local_capacity(address: str | None, workers: int, use_gpu: bool) -> None:
    """Before a local Ray starts: it gets this machine's CPUs (and GPUs), so Ray Train workers
    beyond them would wait for ever, or crawl on oversubscribed cores. Refused with one line.
    (A cluster given by --ray-address / $RAY_ADDRESS is checked by check_resources.)"""
    if address or os.environ.get("RAY_ADDRESS"):
        return
    if use_gpu:
        import torch

        have, what, fix = torch.cuda.device_count(), "GPU", "drop --use-gpu or use fewer --workers"
    else:
        have, what, fix = machine_cpus(), "CPU core", "use fewer --workers"
    if workers > have:
        raise UserError(f"--workers {workers} needs {workers} {what}s (one per worker), but this "
                        f"machine has {have}, and a local Ray gets this machine's; {fix} "
                        f"(at most {have}), or join a bigger cluster with --ray-address")


def connect(address: str | None = None, cpus: float = 0, verbose: bool = False) -> str:
    """Join the cluster at `address` / $RAY_ADDRESS, or start a local one (127.0.0.1 only) with
    this machine's cores as its logical CPUs, plus what `cpus` asks beyond them (a streamed
    run's decode tasks reserve CPUs beside its workers'; they share the cores, and
    check_local_capacity keeps the workers themselves within them); returns what it connected
    to, in words. Unless `verbose`, what Ray's processes print stays in Ray's log files (the job
    prints what it has to say)."""
    prefer_loopback_ray(address)
    import ray  # first import here, after prefer_loopback_ray

    if ray.is_initialized():
        return "the Ray cluster this process is connected to"
    address = address or os.environ.get("RAY_ADDRESS")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address:
        _check_reachable(address)
    try:
        if address:
            ray.init(address=address, log_to_driver=verbose, logging_level="WARNING")
            _quiet_driver_messages(verbose)
            handle_sigterm()  # ray.init replaced it with one that exits at once
            return f"Ray cluster at {address}"
        # Ray turns token authentication on for a new local cluster and says so on stderr,
        # which is kept for the one line a user error gets.
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
            logging.ERROR)
        # Workers import smoot_dist from this checkout even when it is not installed (an
        # installed package needs nothing: workers run this Python).
        pythonpath = os.pathsep.join(p for p in (CHECKOUT and str(CHECKOUT),
                                                 os.environ.get("PYTHONPATH")) if p)
        # The dashboard (on 127.0.0.1) serves the state API that Ray Train's controller and
        # its placement-group cleaner poll. Ray's processes find it by looking for "the" Ray on
        # this machine (the last `ray start`, else the one GCS process running): with a second
        # Ray here (another job's, a test cluster) the cleaner of a Tune trial that ASHA stopped
        # asked the wrong one or died ("Found multiple active Ray instances"), its CPUs stayed
        # reserved, and every later trial and run timed out waiting for workers. Our own
        # dashboard's address, in every process of this cluster, leaves nothing to guess.
        dashboard_port = free_port()
        api_server = f"http://127.0.0.1:{dashboard_port}"
        ray.init(address="local", _node_ip_address="127.0.0.1", include_dashboard=True,
                 log_to_driver=verbose,
                 num_cpus=max(machine_cpus(), math.ceil(cpus)),
                 dashboard_host="127.0.0.1", dashboard_port=dashboard_port,
                 object_store_memory=200 * 1024 * 1024, logging_level="WARNING",
                 runtime_env={"env_vars": {"PYTHONPATH": pythonpath,
                                           API_SERVER_ENV: api_server}})
        os.environ[API_SERVER_ENV] = api_server  # this driver's own state-API calls too
        _quiet_driver_messages(verbose)
        handle_sigterm()
        return "a local Ray started by this job (127.0.0.1)"
    except (ConnectionError, RuntimeError, ValueError) as err:
        first = first_line(err)
        where = address or "a local Ray"
        raise UserError(f"cannot reach the Ray cluster at {where} ({first}); start it with "
                        f"`ray start --head`, or unset RAY_ADDRESS to run a local Ray") from None
    except Exception as err:
        # Ray raises a bare Exception when its own processes do not come up in time (the
        # raylet waits 30 s, a fixed limit): an overloaded or memory-starved machine
        if address or "timed out during startup" not in str(err):
            raise
        raise UserError(f"a local Ray did not start ({first_line(err)}); the machine is likely "
                        f"too busy: try again when it is quieter, or join a running cluster "
                        f"with --ray-address (its logs: /tmp/ray/session_latest/logs)") from None


def _quiet_driver_messages(verbose: bool) -> None:
    """log_to_driver=False keeps the workers' output off the console, but the driver also prints
    what the raylet pushes to it ("(raylet) WARNING: 10 PYTHON worker processes have been
    started ...", with colour codes even into a file). Those lines are in the raylet's own log
    file already; unless `verbose`, the driver sends them to Python logging at DEBUG instead.
    Ray has no setting for it: this replaces the function its message thread calls (private;
    left alone when a Ray version lacks it)."""
    if verbose:
        return
    from ray._private import worker as ray_worker

    if not callable(getattr(ray_worker, "print_to_stdstream", None)):
        return
    log = logging.getLogger("smoot_dist.ray_driver_messages")

    def to_debug_log(data, ignore_prefix: bool = False) -> None:
        for line in data.get("lines", ()):
            log.debug("(%s) %s", data.get("pid", "ray"), line)

    ray_worker.print_to_stdstream = to_debug_log


def check_resources(workers: int, use_gpu: bool, data_cpus: float = 0) -> None:
    """The cluster can ever hold the Ray Train workers asked for, and beside them one streaming
    decode task of `data_cpus` CPUs; else one line now, instead of a run that waits forever. On
    an autoscaling cluster the bound is what its node types can add up to; on a fixed one, what
    its nodes have (busy or not: those may free up)."""
    import ray
    from ray._private.state import state
    from ray.train import ScalingConfig

    need = ScalingConfig(num_workers=workers, use_gpu=use_gpu).total_resources
    try:
        most = state.get_max_resources_from_cluster_config()  # None: no autoscaler config
    except Exception:  # a private API: fall back to what is there now
        most = None
    have = most if most is not None else ray.cluster_resources()
    kind = "can grow to" if most is not None else "has"
    for resource, amount in need.items():
        if have.get(resource, 0) < amount:
            per = "GPU" if resource == "GPU" else "CPU"
            fix = ("drop --use-gpu, or join a cluster with GPUs" if resource == "GPU" else
                   f"use --workers {int(have.get(resource, 0))} or fewer, or a bigger cluster")
            raise UserError(f"{workers} Ray Train worker(s) need {amount:g} {resource} in all (one "
                            f"{per} each), but the Ray cluster {kind} {have.get('CPU', 0):g} CPU "
                            f"and {have.get('GPU', 0):g} GPU; {fix}")
    if data_cpus and have.get("CPU", 0) < need.get("CPU", 0) + data_cpus:
        raise UserError(f"streaming needs {data_cpus:g} CPU per decode task beside the {workers} "
                        f"worker(s)' {need.get('CPU', 0):g}, but the Ray cluster {kind} "
                        f"{have.get('CPU', 0):g} CPU; use fewer --workers, or a cluster with more "
                        f"CPUs (a local Ray started by the job has enough)")


# How long `--precision auto` waits for a probe task on a cluster of several machines.
PRECISION_PROBE_S = 60.0


def worker_precision(use_gpu: bool) -> tuple[str, str]:
    """`--precision auto` resolved for the device a Ray Train worker trains on, and why. When
    every node of the cluster is this machine (a local Ray, a test cluster), this machine's CPU
    or GPU answers; on a cluster of several machines a task with a worker's resources asks one
    of them, whose answer stands for all (a cluster of mixed processors: pass --precision)."""
    import ray
    import torch

    from ..training.precision import AUTO, resolve_precision

    here = ray.util.get_node_ip_address()
    nodes = {n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")}
    if nodes <= {here} and (not use_gpu or torch.cuda.is_available()):
        return resolve_precision(AUTO, torch.device("cuda" if use_gpu else "cpu"))

    @ray.remote(num_cpus=0 if use_gpu else 1, num_gpus=1 if use_gpu else 0)
    def probe() -> tuple[str, str]:
        import torch as worker_torch

        from smoot_dist.training.precision import resolve_precision as on_worker

        device = worker_torch.device("cuda" if use_gpu else "cpu")
        precision, why = on_worker(AUTO, device)
        return precision, f"{why}, on a worker's node"

    task = probe.remote()
    try:
        return tuple(ray.get(task, timeout=PRECISION_PROBE_S))
    except ray.exceptions.GetTimeoutError:
        ray.cancel(task, force=True)
        return "fp32", (f"no worker slot answered within {PRECISION_PROBE_S:.0f} s to say "
                        f"whether it computes bf16; pass --precision bf16 where it does")
