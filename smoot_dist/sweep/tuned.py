"""The tuning step of a tuned reproduction (`jobs/reproduce.py --protocol tuned`): sweep a search
space on the validation split and hand back the best trial's method settings.

A reproduction's sweeps live in its output folder, one per space (`sweeps/<space>/`), so the
same command with the same --id reuses a finished sweep (its sweep.json) instead of searching
again. A sweep cut off before it finished is searched again from its first trial (Tune's own
restore would resume it, but its trials would then be runs of an earlier process whose MLflow
runs were left RUNNING; a fresh sweep is simpler to trust); its earlier trials' folders stay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from ..config import JobConfig
from .search_space import SearchSpace, load_search_space, search_space_file


@dataclass
class TunedSetting:
    space: str  # the space's name (its file's stem)
    method: str  # the method its trials trained
    settings: dict[str, Any]  # the best trial's method section (what the confirmation trains)
    sweep: dict[str, Any]  # the sweep's summary (sweep.json): trials, best row, wall time
    dimensions: list[dict[str, Any]]  # the space, for the results page
    reused: bool  # read from an earlier command with the same --id
    base: JobConfig  # the config the trials started from (its validation split held out)


def _dimensions(space: SearchSpace) -> list[dict[str, Any]]:
    return [{"name": d.name, "kind": d.kind, "values": list(d.values)} for d in space.dimensions]


def tune_space(cfg: JobConfig, name: str, out: Path, id_prefix: str) -> TunedSetting:
    """Sweep the space `name` with `cfg` as the trials' base (its sweep section: trials, ASHA,
    objective) unless `out/sweeps/<space>/sweep.json` says it has been swept."""
    base, space = cfg, load_search_space(name, cfg.method.name)
    stem = search_space_file(name).stem
    folder = out / "sweeps" / stem
    done = folder / "sweep.json"
    reused = done.is_file()
    if reused:
        summary = json.loads(done.read_text())
        print(f"\n== sweep {stem}: finished before ({summary['sweep']}), its best trial reused",
              flush=True)
    else:
        from .run import run_sweep

        print(f"\n== sweep {stem}: {cfg.sweep.num_samples} {space.method} trials", flush=True)
        cfg = replace(cfg, sweep=replace(cfg.sweep, output_dir=str(folder)),
                      method=replace(cfg.method, name=space.method))
        summary = run_sweep(cfg, space, f"{id_prefix}-{stem}")
        print(f"sweep {stem}: {summary['wall_s']:.0f} s", flush=True)
    best = yaml.safe_load((folder / "best_config.yaml").read_text())
    return TunedSetting(stem, space.method, best["method"], summary, _dimensions(space), reused,
                        base)
