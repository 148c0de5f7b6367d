"""A whole sweep: checks, the sweep's MLflow run, the Tune run, the trial table, plots, best config."""

from __future__ import annotations

import csv
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from ..config import OBJECTIVES, JobConfig
from ..data.loading import load_splits
from ..data.paths import pin_data_root
from ..foundations.errors import UserError
from ..foundations.files import StagedFolder, write_json, write_text
from ..foundations.home import output_dir
from ..runs.tracking import (MlflowRun, check_tracking_uri, close_stopped_trials, resolve_tracking_uri,
                        ui_command)
from .objective import MODES
from .search_space import SearchSpace, check_space_fits
from ..launch.ray_cluster import connect
from ..foundations.uris import is_remote, without_credentials
from ..runs.folder import storage_of
from ..runs.remote import RemoteRuns
from ..plots.curves import plot_objective_vs_params

# Validation images a sweep holds out of the training data when its config names none.
DEFAULT_VAL_IMAGES = 5000
# a finished sweep's files that tell its outcome: run_sweep writes them and logs them to its
# MLflow parent run; tuned.py copies them beside a results page
OUTCOME_FILES = ("sweep.json", "best_config.yaml", "trials.csv", "trials.md",
                 "objective_vs_params.png")


def failed_trials(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trial rows of a sweep that ended in an error (not those ASHA stopped early)."""
    return [row for row in rows if row.get("error")]


def _table(rows: list[dict[str, Any]], searched: list[str]) -> str:
    # validation columns only: the objective is chosen on them (trials.csv has the test ones)
    cols = ["trial", *searched, "epochs", "objective", "val_accuracy", "K_min", "K_median", "K_max"]
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = [" | ".join(cols), "|".join("---" for _ in cols)]
    lines += [" | ".join(fmt(r[c]) for c in cols) for r in rows]
    return "\n".join(lines)


def _best(rows: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    done = [r for r in rows if not math.isnan(r["objective"])]
    if not done:
        raise UserError("no trial reported an epoch; see the trial errors above")
    longest = max(r["epochs"] for r in done)
    full = [r for r in done if r["epochs"] == longest]  # trials ASHA let run to the end
    return (max if mode == "max" else min)(full, key=lambda r: r["objective"])


def _trial_base(cfg: JobConfig, storage: str, uri: str | None) -> JobConfig:
    """What every trial starts from: the experiment, and how a trial runs and is tracked."""
    cfg = pin_data_root(cfg)  # trials run in other processes: give them the path resolved here
    return replace(cfg, run=replace(cfg.run, workers=cfg.sweep.workers_per_trial,
                                    storage_path=storage, max_failures=1, progress=False,
                                    resume=False),
                   tracking=replace(cfg.tracking, enabled=uri is not None, uri=uri))


def with_validation(cfg: JobConfig, space: SearchSpace | None = None) -> tuple[JobConfig, int]:
    """`cfg` with a validation split for the objective (DEFAULT_VAL_IMAGES held out of the
    training data, or a tenth of a smaller one, unless the config or the image folder brings
    one) and its size; missing data, or a `space` whose values do not fit the data (an n above
    its classes), fails here, not in every trial."""
    splits = load_splits(cfg.data)
    if space is not None:
        check_space_fits(space, splits.spec.num_classes, splits.spec.title)
    if splits.val is None:
        n = max(splits.spec.num_classes, min(DEFAULT_VAL_IMAGES, len(splits.train) // 10))
        cfg = replace(cfg, data=replace(cfg.data, val_images=n))
        splits = load_splits(cfg.data)
    return cfg, len(splits.val)


def objective_images_text(objective: str, val_images: int, auc_images: int) -> str:
    """What the objective is measured on: the accuracy on every validation image, the Grad AUC
    on (at most) `auc_images` of them."""
    auc = min(auc_images, val_images)
    if objective == "accuracy" or (objective == "combined" and auc == val_images):
        return f"{val_images} validation images"
    if objective == "auc":
        return f"{auc} validation images"
    return f"accuracy on {val_images} validation images, AUC on {auc} of them"


def run_sweep(cfg: JobConfig, space: SearchSpace, sweep_id: str) -> dict:
    start = time.perf_counter()
    s = cfg.sweep
    uri = resolve_tracking_uri(cfg.tracking.uri) if cfg.tracking.enabled else None
    if uri:
        check_tracking_uri(uri, cfg.tracking.experiment)
    cfg, val_images = with_validation(cfg, space)
    # the outcome's folder: new or empty, checked now (not after the trials), filled under a
    # temporary sibling and renamed in when complete, so no file of yours is written over
    staged = StagedFolder(Path(s.output_dir) if s.output_dir else output_dir("sweeps", sweep_id, fresh=True),
                          "--output-dir")
    with staged:  # _sweep publishes it
        return _sweep(cfg, space, sweep_id, staged, val_images, start)


def _sweep(cfg: JobConfig, space: SearchSpace, sweep_id: str, staged: StagedFolder,
           val_images: int, start: float) -> dict:
    # the Tune adapter
    from .ray_tune import TRIAL_SECTIONS, asha_rungs, run_trials, trial_config, trial_rows

    s = cfg.sweep
    uri = resolve_tracking_uri(cfg.tracking.uri) if cfg.tracking.enabled else None
    searched = [d.name for d in space.searched]
    print(f"{sweep_id}: {s.num_samples} {space.method} trials of {', '.join(searched)} on "
          f"{connect(cfg.run.ray_address, verbose=cfg.run.verbose)}; objective: "
          f"{OBJECTIVES[s.objective][0]} "
          f"({objective_images_text(s.objective, val_images, s.objective_images)})",
          flush=True)
    parent = None
    if uri:
        parent = MlflowRun.open(uri, sweep_id, None, cfg.tracking.experiment,
                                tags={"sweep": sweep_id, "kind": "sweep"})
        parent.log_params({**cfg.flat(), "sweep.objective": s.objective, "sweep.method": space.method,
                           "sweep.num_samples": s.num_samples,
                           **{f"space.{d.name}": f"{d.kind}{list(d.values)}" for d in space.dimensions}})
        print(f"MLflow: sweep run {parent.run_id} in {uri}\n  open the UI: {ui_command(uri)}", flush=True)
    storage, _ = storage_of(cfg.run.storage_path)  # a remote URI as given, a folder resolved
    sweep = {"id": sweep_id, "base": _trial_base(cfg, storage, uri).to_dict(TRIAL_SECTIONS),
             "parent_run_id": parent.run_id if parent else None,
             "objective": s.objective, "objective_images": s.objective_images}
    try:
        results = run_trials(space, sweep, num_samples=s.num_samples,
                             max_concurrent=s.max_concurrent, epochs=cfg.train.epochs,
                             seed=s.sweep_seed, storage_path=storage, verbose=cfg.run.verbose)
    except BaseException as err:
        if parent:  # the sweep's run, and its trials' runs that the stop left running
            stopped = isinstance(err, KeyboardInterrupt)
            try:
                close_stopped_trials(uri, cfg.tracking.experiment, sweep_id,
                                     "interrupted" if stopped else "the sweep failed")
            except Exception as closing:  # the store is down: the error on its way out matters
                print(f"warning: the trials' MLflow runs could not be closed "
                      f"({type(closing).__name__})", flush=True)
            parent.finish_quietly("KILLED" if stopped else "FAILED")
        raise
    rows = trial_rows(results, searched)
    mode = MODES[s.objective]
    best = _best(rows, mode)
    best_cfg = trial_config(sweep["base"], {n: best[n] for n in searched}
                            | {d.name: d.values[0] for d in space.dimensions if not d.searched},
                            space.method)
    best_cfg = replace(best_cfg, data=replace(best_cfg.data, root=None))  # portable
    out = staged.staging
    write_text(out / "best_config.yaml",
               f"# best trial {best['trial']} of {sweep_id}: objective ({s.objective}) "
               f"{best['objective']:.4g}\n" + yaml.safe_dump(best_cfg.to_dict(), sort_keys=False))
    with open(out / "trials.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    table = _table(rows, searched)
    write_text(out / "trials.md", table + "\n")
    plot_objective_vs_params(rows, space.searched, s.objective, out / "objective_vs_params.png")
    summary = {"sweep": sweep_id, "method": space.method, "objective": s.objective, "mode": mode,
               "objective_images": s.objective_images, "val_images": val_images,
               "num_samples": s.num_samples, "epochs": cfg.train.epochs,
               "asha_rungs": asha_rungs(cfg.train.epochs), "trials": rows, "best": best,
               "output_dir": str(staged.final), "wall_s": time.perf_counter() - start}
    write_json(out / "sweep.json", summary)
    out = staged.publish()
    if parent:
        close_stopped_trials(uri, cfg.tracking.experiment, sweep_id)
        parent.log_metrics({"best_objective": best["objective"],
                            "best_val_accuracy": best["val_accuracy"],
                            "best_test_accuracy": best["test_accuracy"]})
        for name in OUTCOME_FILES:
            parent.log_artifact(out / name)
        parent.finish("FINISHED")
    where = str(out)
    if is_remote(storage):  # nodes that share no disk: the outcome lives beside the trials' runs
        RemoteRuns(storage).publish(sweep_id, out, "")
        where += f" and {without_credentials(storage).split('?')[0]}/{sweep_id}/"
    # ASHA stops trials early: the best is chosen among those run to the last epoch (a trial
    # stopped after 1 epoch is not compared with one trained for 10)
    full = sum(r["epochs"] == best["epochs"] for r in rows)
    failed = len(failed_trials(rows))
    if failed:  # the best of fewer trials than asked for: the user should know
        print(f"\nwarning: {failed} of the {len(rows)} trials failed (their rows have an error; see "
              f"the trial errors above): the best is chosen among the others", flush=True)
    print(f"\n{table}\n\nbest trial {best['trial']} (of the {full} trained for {best['epochs']} "
          f"epoch(s)): objective {best['objective']:.4g}\n"
          f"best config: {out / 'best_config.yaml'}  (python jobs/train.py --config ...)\nfiles: {where}")
    return summary
