"""The tuning step of a tuned reproduction (`jobs/reproduce.py --protocol tuned`): sweep a search
space on the validation split and hand back the best trial's method settings.

A reproduction's sweeps live in its output folder, one per space (`sweeps/<space>/`), so the
same command with the same --id reuses a finished sweep (its sweep.json) instead of searching
again. A sweep cut off before it finished is searched again from its first trial (Tune's own
restore would resume it, but its trials would then be runs of an earlier process whose MLflow
runs were left RUNNING; a fresh sweep is simpler to trust); its earlier trials' folders stay.

A reproduction with a results page also keeps each finished sweep's outcome beside the page
(`<page>/<dataset>_sweeps/<id>/<space>/`: sweep.json, best_config.yaml, the trial tables and the
objective plot, a few kB, no checkpoints), so that the page's folder, committed or copied,
carries the sweeps to another machine: there the same --id reuses them and only trains the
confirmation runs. A kept sweep is reused only by the reproduction that ran it (its sweep id
names the --id, the dataset and the space).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from ..config import JobConfig
from ..foundations.errors import UserError
from ..foundations.files import write_bytes
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


def _copy_outcome(source: Path, target: Path) -> None:
    """The outcome files from `source` into `target`, each written whole (files.write_bytes:
    a temporary sibling swapped in), sweep.json last: it is what says the sweep is done."""
    from .search import OUTCOME_FILES  # run.py loads torch (the data): reproduce --help does not

    target.mkdir(parents=True, exist_ok=True)
    for name in sorted(OUTCOME_FILES, key=lambda n: n == "sweep.json"):
        if (source / name).is_file():
            write_bytes(target / name, (source / name).read_bytes())


def _kept_id(kept: Path | None) -> str | None:
    """The id of the sweep whose outcome `kept` holds, if any."""
    if kept is None or not (kept / "sweep.json").is_file():
        return None
    return json.loads((kept / "sweep.json").read_text()).get("sweep")


def _failures_text(failed: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    return (f"{len(failed)} of its {len(summary.get('trials', ()))} trials failed "
            f"({failed[0]['trial']}: {failed[0]['error']})")


def _set_aside(folder: Path) -> Path:
    """A sweep folder moved to a free sibling name (`<space>-failed-<n>`), kept as evidence."""
    n = 1
    while (aside := folder.with_name(f"{folder.name}-failed-{n}")).exists():
        n += 1
    folder.rename(aside)
    return aside


def tune_space(cfg: JobConfig, name: str, out: Path, id_prefix: str,
               kept: Path | None = None) -> TunedSetting:
    """Sweep the space `name` with `cfg` as the trials' base (its sweep section: trials, ASHA,
    objective) unless `out/sweeps/<space>/sweep.json` says it has been swept, or `kept/<space>/`
    (beside the results page) holds this sweep's outcome from another machine; with `kept`,
    the outcome is copied there once the sweep is done."""
    from .search import failed_trials, run_sweep  # torch, via the data: not for reproduce --help

    base, space = cfg, load_search_space(name, cfg.method.name)
    stem = search_space_file(name).stem
    folder = out / "sweeps" / stem
    done = folder / "sweep.json"
    kept_here = kept / stem if kept is not None else None
    sweep_id, kept_id = f"{id_prefix}-{stem}", _kept_id(kept_here)
    # Both methods get the same budget: a sweep some of whose trials failed (a crash, workers
    # that never started) is no outcome to reuse; it is searched again, the failed one kept aside.
    if kept_id == sweep_id and failed_trials(
            json.loads((kept_here / "sweep.json").read_text()).get("trials", ())):
        kept_id = None  # the kept outcome is this sweep's, and is replaced once it succeeds
    earlier = json.loads(done.read_text()) if done.is_file() else {}
    if failed := failed_trials(earlier.get("trials", ())):
        aside = _set_aside(folder)
        print(f"\n== sweep {stem}: {_failures_text(failed, earlier)} before; searched again "
              f"(the failed sweep's files: {aside})", flush=True)
    carried = kept_here if kept_id == sweep_id and not done.is_file() else None
    if carried is not None:
        print(f"\n== sweep {stem}: its outcome is kept beside the results page ({carried})",
              flush=True)
        _copy_outcome(carried, folder)
    reused = done.is_file()
    if reused:
        summary = json.loads(done.read_text())
        print(f"\n== sweep {stem}: finished before ({summary['sweep']}), its best trial reused",
              flush=True)
    else:
        print(f"\n== sweep {stem}: {cfg.sweep.num_samples} {space.method} trials", flush=True)
        cfg = replace(cfg, sweep=replace(cfg.sweep, output_dir=str(folder)),
                      method=replace(cfg.method, name=space.method))
        summary = run_sweep(cfg, space, sweep_id)
        print(f"sweep {stem}: {summary['wall_s']:.0f} s", flush=True)
        if failed := failed_trials(summary["trials"]):
            raise UserError(f"sweep {stem}: {_failures_text(failed, summary)}; the comparison "
                            f"needs every trial of each sweep (equal budgets): see the trial errors "
                            f"above; the same command (same --id) searches it again")
    summary = {**summary, "output_dir": str(folder)}  # where its files are on this machine
    if kept_here is not None and kept_id in (None, sweep_id) and carried is None:
        _copy_outcome(folder, kept_here)
    elif kept_id not in (None, sweep_id):  # another reproduction's: never written over
        print(f"sweep {stem}: not kept beside the page ({kept_here} holds {kept_id})", flush=True)
    best = yaml.safe_load((folder / "best_config.yaml").read_text())
    return TunedSetting(stem, space.method, best["method"], summary, _dimensions(space), reused,
                        base)
