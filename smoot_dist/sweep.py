"""A whole sweep: checks, the sweep's MLflow run, the Tune run, the trial table, plots, best config."""

from __future__ import annotations

import argparse
import csv
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from .config import ExperimentConfig
from .data.loading import load_splits
from .data.paths import data_root
from .errors import UserError
from .evaluation.objective import MODES, OBJECTIVES
from .runs import runs_root
from .search_space import SearchSpace
from .summary import write_json
from .tracking import MlflowRun, check_tracking_uri, resolve_tracking_uri, smoot_home, ui_command


def _table(rows: list[dict[str, Any]], searched: list[str]) -> str:
    cols = ["trial", *searched, "epochs", "objective", "test_accuracy", "K_min", "K_median", "K_max"]
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


def _close_stopped_trials(uri: str, experiment: str, sweep_id: str) -> int:
    """Trials ASHA stopped never finished their MLflow run: mark them KILLED."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return 0
    runs = client.search_runs([exp.experiment_id],
                              f"tags.sweep = '{sweep_id}' and attributes.status = 'RUNNING'")
    for run in runs:
        if run.data.tags.get("kind") != "sweep":
            client.set_tag(run.info.run_id, "stopped_by", "ASHA")
            client.set_terminated(run.info.run_id, "KILLED")
    return len(runs)


def run(base: ExperimentConfig, space: SearchSpace, args: argparse.Namespace, sweep_id: str) -> dict:
    from .local_ray import prefer_loopback_ray

    prefer_loopback_ray(args.ray_address)
    from .ray_train import connect
    from .ray_tune import run_sweep, trial_config, trial_rows  # the Ray Tune adapter
    from .plots import plot_objective_vs_params

    uri = None if args.no_tracking else resolve_tracking_uri(args.tracking_uri)
    if uri:
        check_tracking_uri(uri)
    load_splits(base.data)  # missing data fails here, not in every trial
    # Trials run in other processes: give them the data path this process resolved.
    base = replace(base, data=replace(base.data, root=str(data_root(base.data.root))))
    searched = [d.name for d in space.searched]
    print(f"{sweep_id}: {args.num_samples} trials of {', '.join(searched)} on "
          f"{connect(args.ray_address)}; objective: {OBJECTIVES[args.objective]}", flush=True)
    parent = None
    if uri:
        parent = MlflowRun.open(uri, sweep_id, experiment=args.experiment,
                                tags={"sweep": sweep_id, "kind": "sweep"})
        parent.log_params({**base.flat(), "sweep.objective": args.objective,
                           "sweep.num_samples": args.num_samples,
                           **{f"space.{d.name}": f"{d.kind}{list(d.values)}" for d in space.dimensions}})
        print(f"MLflow: sweep run {parent.run_id} in {uri}\n  open the UI: {ui_command(uri)}", flush=True)
    storage = str(Path(args.storage_path).expanduser().resolve()) if args.storage_path else str(runs_root())
    sweep = {"id": sweep_id, "base": base.to_dict(), "workers_per_trial": args.workers_per_trial,
             "use_gpu": args.use_gpu, "storage_path": storage, "tracking_uri": uri,
             "experiment": args.experiment, "parent_run_id": parent.run_id if parent else None,
             "objective": args.objective, "objective_images": args.objective_images}
    try:
        results = run_sweep(space, sweep, num_samples=args.num_samples,
                            max_concurrent=args.max_concurrent, epochs=base.train.epochs,
                            seed=args.sweep_seed, storage_path=storage)
    except BaseException:
        if parent:
            parent.finish("FAILED")
        raise
    rows = trial_rows(results, searched)
    mode = MODES[args.objective]
    best = _best(rows, mode)
    best_cfg = trial_config(base.to_dict(), {n: best[n] for n in searched}
                            | {d.name: d.values[0] for d in space.dimensions if not d.searched})
    best_cfg = replace(best_cfg, data=replace(best_cfg.data, root=None))  # portable
    out = args.output_dir or smoot_home() / "sweeps" / sweep_id
    out.mkdir(parents=True, exist_ok=True)
    (out / "best_config.yaml").write_text(
        f"# best trial {best['trial']} of {sweep_id}: objective ({args.objective}) "
        f"{best['objective']:.4g}\n" + yaml.safe_dump(best_cfg.to_dict(), sort_keys=False))
    with open(out / "trials.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    table = _table(rows, searched)
    (out / "trials.md").write_text(table + "\n")
    plot_objective_vs_params(rows, [d for d in space.searched], args.objective, out / "objective_vs_params.png")
    summary = {"sweep": sweep_id, "objective": args.objective, "mode": mode, "trials": rows,
               "best": best, "output_dir": str(out)}
    write_json(out / "sweep.json", summary)
    if parent:
        _close_stopped_trials(uri, args.experiment, sweep_id)
        parent.log_metrics({"best_objective": best["objective"],
                            "best_test_accuracy": best["test_accuracy"]})
        for name in ("best_config.yaml", "trials.csv", "trials.md", "objective_vs_params.png", "sweep.json"):
            parent.log_artifact(out / name)
        parent.finish("FINISHED")
    print(f"\n{table}\n\nbest trial {best['trial']}: objective {best['objective']:.4g}\n"
          f"best config: {out / 'best_config.yaml'}  (python jobs/train.py --config ...)\nfiles: {out}")
    return summary
