"""Where smoot_dist keeps its files: $SMOOT_HOME (default ~/smoot_dist) holds runs/, the MLflow
store mlflow.db, and the outputs of sweeps, comparisons, reproductions and motivation runs."""

from __future__ import annotations

import os
import time
from pathlib import Path

HOME_ENV = "SMOOT_HOME"


def _checkout() -> Path | None:
    """The source checkout this package runs from (jobs/ put it first on sys.path, or an
    editable install), None for an installed wheel: its git commit goes on the results page,
    and Ray workers are given it as PYTHONPATH (an installed package they import as it is)."""
    root = Path(__file__).resolve().parents[2]  # <root>/smoot_dist/foundations/home.py
    return root if (root / "pyproject.toml").is_file() else None


CHECKOUT = _checkout()


def smoot_home() -> Path:
    return Path(os.environ.get(HOME_ENV) or Path.home() / "smoot_dist").expanduser()


def runs_root() -> Path:
    """Run folders, unless --storage-path says otherwise."""
    return smoot_home() / "runs"


def output_dir(kind: str, name: str | None = None, fresh: bool = False) -> Path:
    """$SMOOT_HOME/<kind>/<name>, the name defaulting to the current time. `fresh`: a folder
    that does not exist yet (`<name>-2`, `-3`, ... after one of the same second)."""
    base = smoot_home() / kind / (name or time.strftime("%Y%m%d-%H%M%S"))
    path, n = base, 2
    while fresh and path.exists():
        path, n = base.with_name(f"{base.name}-{n}"), n + 1
    return path
