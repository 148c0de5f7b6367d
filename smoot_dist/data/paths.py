"""Where datasets live on disk."""

from __future__ import annotations

import os
from dataclasses import replace
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


def raw_folder(torchvision_class: str, root: Path) -> Path:
    """Where torchvision's MNIST-style classes read their uncompressed IDX files."""
    return root / torchvision_class / "raw"


def pin_data_root(cfg):
    """`cfg` (a JobConfig) with its data root resolved here: processes elsewhere (Ray workers,
    Tune trials) may not share this process's environment ($SMOOT_DATA_DIR, home directory)."""
    return replace(cfg, data=replace(cfg.data, root=str(data_root(cfg.data.root))))


def prepare_command(dataset: str, root: Path | None = None) -> str:
    """The one command that lays out `dataset` (printed in 'missing data' errors)."""
    extra = f" --root {root}" if root is not None and root != data_root() else ""
    return f"python jobs/prepare_data.py {dataset}{extra}"
