"""Connecting to a Ray cluster, or starting a local one that serves this machine only.

Ray decides at import time whether it may form a multi-machine cluster; when it may not, every
Ray process binds to the loopback interface only (its macOS/Windows default; on Linux the
environment variable below asks for it). A job that starts its own local Ray sets it before Ray
is first imported; a job that joins a cluster (RAY_ADDRESS, --ray-address) leaves it alone.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from ..errors import UserError

LOOPBACK_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
REPO_ROOT = Path(__file__).resolve().parents[2]


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


def connect(address: str | None = None) -> str:
    """Join the cluster at `address` / $RAY_ADDRESS, or start a local one (127.0.0.1 only);
    returns what it connected to, in words."""
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
            ray.init(address=address, log_to_driver=True, logging_level="WARNING")
            return f"Ray cluster at {address}"
        # Workers import smoot_dist from this checkout even when it is not installed.
        pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
        # The dashboard (on 127.0.0.1) serves the state API that Ray Train's controller polls.
        ray.init(address="local", _node_ip_address="127.0.0.1", include_dashboard=True,
                 dashboard_host="127.0.0.1",
                 object_store_memory=200 * 1024 * 1024, logging_level="WARNING",
                 runtime_env={"env_vars": {"PYTHONPATH": pythonpath}})
        return "a local Ray started by this job (127.0.0.1)"
    except (ConnectionError, RuntimeError, ValueError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        where = address or "a local Ray"
        raise UserError(f"cannot reach the Ray cluster at {where} ({first}); start it with "
                        f"`ray start --head`, or unset RAY_ADDRESS to run a local Ray") from None
