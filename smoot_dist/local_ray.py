"""A Ray that a job starts for itself serves this machine only.

Ray decides at import time whether it may form a multi-machine cluster; when it may not, every
Ray process binds to the loopback interface only (its macOS/Windows default; on Linux the
environment variable below asks for it). Jobs that start their own local Ray set it before
Ray is first imported; jobs that join a cluster (RAY_ADDRESS, --ray-address) leave it alone.
"""

from __future__ import annotations

import os

LOOPBACK_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def prefer_loopback_ray(address: str | None) -> None:
    if not (address or os.environ.get("RAY_ADDRESS")):
        os.environ.setdefault(LOOPBACK_ONLY_ENV, "0")
