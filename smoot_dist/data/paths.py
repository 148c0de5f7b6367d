"""Where datasets live on disk."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "SMOOT_DATA_DIR"


def data_root(root: str | None = None) -> Path:
    """The explicit root, else $SMOOT_DATA_DIR, else ~/.cache/smoot_dist/data."""
    if root:
        return Path(root).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "smoot_dist" / "data"


def prepare_command(dataset: str, root: Path | None = None) -> str:
    """The one command that lays out `dataset` (printed in 'missing data' errors)."""
    extra = f" --root {root}" if root is not None and root != data_root() else ""
    return f"python jobs/prepare_data.py {dataset}{extra}"
