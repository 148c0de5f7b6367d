"""The Ray Tune adapter: a sweep over method settings, each trial a Ray Train run.

Each trial is a Tune function trainable that runs one training job (a TorchTrainer, Train V2)
through the same `run_training` as jobs/train.py, so a trial can use several workers or GPUs and
is a complete run of its own: its own folder, checkpoints and MLflow run (nested under the
sweep's run, tagged with the sweep id). The objective is an epoch hook (sweep/objective.py) that
the trial hands to training; the per-epoch metrics reach Tune through Ray Train's
TuneReportCallback, and ASHA stops weak trials early on the per-epoch `objective`.
"""

from __future__ import annotations

import math
import os
from typing import Any

from ray import tune
from ray.tune.integration.ray_train import TuneReportCallback
from ray.tune.schedulers import ASHAScheduler

from ..config import JobConfig, merge, validate
from ..workflows.train import run_training
from .objective import MODES, ObjectiveHook
from .search_space import SearchSpace

TRIAL_SECTIONS = ("data", "model", "method", "train", "run", "tracking")
# ASHA's schedule (run_trials): a trial's first rung after 1 epoch, the better
# 1/REDUCTION_FACTOR of each rung goes on, rungs at 1, 2, 4, ... epochs up to the run's.
ASHA_GRACE_PERIOD, ASHA_REDUCTION_FACTOR = 1, 2


def asha_rungs(epochs: int) -> list[int]:
    """The epochs after which ASHA compares trials (1, 2, 4, 8 for 10 epochs)."""
    rungs, t = [], ASHA_GRACE_PERIOD
    while t < epochs:
        rungs.append(t)
        t *= ASHA_REDUCTION_FACTOR
    return rungs


def param_space(space: SearchSpace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in space.dimensions:
        if d.kind == "uniform":
            out[d.name] = tune.uniform(*d.values)
        elif d.kind == "loguniform":
            out[d.name] = tune.loguniform(*d.values)
        elif d.kind == "choice":
            out[d.name] = tune.choice(list(d.values))
        else:
            out[d.name] = d.values[0]
    return out


def trial_config(base: dict[str, Any], params: dict[str, Any], method: str = "smoot") -> JobConfig:
    """The sweep's base config (a `to_dict` of TRIAL_SECTIONS) with a trial's `method` settings."""
    cfg = merge(merge(JobConfig(), base, "the sweep's base config"),
                {"method": {"name": method, **params}}, "the trial's parameters")
    validate(cfg)
    return cfg


def _trial(config: dict[str, Any]) -> None:
    """Tune function trainable: one training run with this trial's parameters."""
    sweep = config["sweep"]
    params = {k: config[k] for k in sweep["searched"] + sweep["fixed"]}
    run_name = f"{sweep['id']}-{tune.get_context().get_trial_id()}"
    cfg = trial_config(sweep["base"] | {"run": {**sweep["base"]["run"], "run_name": run_name}},
                       params, sweep["method"])
    tags = {"sweep": sweep["id"], **({"mlflow.parentRunId": sweep["parent_run_id"]}
                                     if sweep["parent_run_id"] else {})}
    run_training(cfg, tags=tags, ray_callbacks=[TuneReportCallback()],
                 epoch_hooks=[ObjectiveHook(sweep["objective"], sweep["objective_images"])])


class TrialLines(tune.Callback):
    """One console line per finished trial (Tune's own status tables stay off)."""

    def __init__(self, searched: list[str], num_samples: int):
        self.searched, self.num_samples, self.done = searched, num_samples, 0

    def _params(self, trial) -> str:
        return " ".join(f"{name}={trial.config.get(name)!r:.8}" for name in self.searched)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.done += 1
        r = trial.last_result or {}
        objective = r.get("objective")
        shown = f"{objective:.4g}" if isinstance(objective, (int, float)) else "-"
        print(f"trial {self.done}/{self.num_samples} {trial.trial_id}: {self._params(trial)} -> "
              f"objective {shown} after {int(r.get('epoch', 0))} epoch(s)", flush=True)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.done += 1
        print(f"trial {self.done}/{self.num_samples} {trial.trial_id}: {self._params(trial)} -> "
              f"failed (see {trial.path or 'its Ray logs'})", flush=True)


def run_trials(space: SearchSpace, sweep: dict[str, Any], *, num_samples: int, max_concurrent: int,
               epochs: int, seed: int | None, storage_path: str,
               verbose: bool = False) -> tune.ResultGrid:
    mode = MODES[sweep["objective"]]
    if not verbose:
        # Tune's console reporter prints a configuration box and result paths even at verbose=0;
        # its legacy reporter (Ray's documented switch) prints nothing at 0. TrialLines speaks.
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    sweep = dict(sweep, method=space.method, searched=[d.name for d in space.searched],
                 fixed=[d.name for d in space.dimensions if not d.searched])
    tuner = tune.Tuner(
        # The trial only coordinates its TorchTrainer, whose workers hold the CPUs/GPUs: it
        # reserves a little memory instead of a CPU (Tune needs some resource in the bundle).
        tune.with_resources(_trial, {"memory": 64 * 1024 ** 2}),
        param_space={**param_space(space), "sweep": sweep},
        tune_config=tune.TuneConfig(
            num_samples=num_samples,
            scheduler=ASHAScheduler(metric="objective", mode=mode, time_attr="epoch",
                                    max_t=max(1, epochs), grace_period=ASHA_GRACE_PERIOD,
                                    reduction_factor=ASHA_REDUCTION_FACTOR),
            # the variant generator limits concurrency itself (Tune ignores, with a warning,
            # max_concurrent_trials beside it)
            search_alg=tune.search.BasicVariantGenerator(random_state=seed,
                                                         max_concurrent=max_concurrent)),
        run_config=tune.RunConfig(
            name=sweep["id"], storage_path=storage_path, verbose=1 if verbose else 0,
            callbacks=[TrialLines(sweep["searched"], num_samples)]),
    )
    return tuner.fit()


def trial_rows(results: tune.ResultGrid, searched: list[str]) -> list[dict[str, Any]]:
    """One row per trial: its settings, last objective, accuracy and K statistics."""
    rows = []
    for r in results:
        m = r.metrics or {}
        rows.append({
            "trial": (m.get("trial_id") or (r.path or "").rsplit("/", 1)[-1]),
            **{name: r.config.get(name) for name in searched},
            "epochs": int(m.get("epoch", 0)), "objective": m.get("objective", math.nan),
            "val_accuracy": m.get("val_accuracy", math.nan),
            "val_auc_grad": m.get("val_auc_grad", math.nan),
            # reported, never selected on (the objective reads the validation split only)
            "test_accuracy": m.get("test_accuracy", math.nan),
            "auc_grad": m.get("auc_grad", math.nan),
            # K statistics in pixel counts (the paper's Min(K) ...); k_min/k_max are settings.
            "K_min": m.get("k_min", math.nan), "K_median": m.get("k_median", math.nan),
            "K_max": m.get("k_max", math.nan),
            "error": type(r.error).__name__ if r.error else "",
        })
    return rows
