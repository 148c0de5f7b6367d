"""Small or read-only disks for the tests: a tmpfs mounted by the test (where this machine lets
the tests mount: root with CAP_SYS_ADMIN), skipped with the reason where it does not."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Iterator

import pytest


@contextlib.contextmanager
def tmpfs(where: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    """A fresh tmpfs of `size` (mount's syntax: 2m, 40m) at `where`, unmounted after."""
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"this machine does not let the tests mount a tmpfs ({r.stderr.strip()[:120]})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def remount_read_only(where: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True, capture_output=True)


def fill(where: Path, leave_bytes: int) -> Path:
    """Fill the disk at `where` up to `leave_bytes` free."""
    import os

    stat = os.statvfs(where)
    filler = where / "filler"
    filler.write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave_bytes))
    return filler
