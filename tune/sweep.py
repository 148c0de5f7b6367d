#!/usr/bin/env python
"""Ray Tune sweep over SMOOT's settings (beta, lambda, the K bounds, alpha, ...).

Each trial is a full training run on Ray Train (TorchTrainer, Train V2: it may use several
workers or GPUs) with its own MLflow run, nested under the sweep's run; ASHA stops weak trials
early on the per-epoch objective.

  python tune/sweep.py --dataset fashion_mnist --num-samples 4 --epochs 2 --train-subset 3000
  python tune/sweep.py --search-space my_space.yaml --objective combined --workers-per-trial 2 --use-gpu

Prints and logs a table of the trials, plots the objective against each searched setting, and
writes the best trial's config as a YAML that `jobs/train.py --config` takes as it is.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smoot_dist.cli import run_cli  # noqa: E402
from smoot_dist.config_cli import OneLineParser, add_config_arguments, config_from_args  # noqa: E402
from smoot_dist.evaluation.objective import OBJECTIVES  # noqa: E402


def parse_args():
    p = OneLineParser(prog="tune/sweep.py", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(p)  # the base config every trial starts from
    s = p.add_argument_group("sweep")
    s.add_argument("--search-space", type=Path, default=None,
                   help="YAML search space (default: tune/search_space.yaml)")
    s.add_argument("--num-samples", type=int, default=8, help="trials")
    s.add_argument("--max-concurrent", type=int, default=2, help="trials at a time")
    s.add_argument("--workers-per-trial", type=int, default=1, help="Ray Train workers per trial")
    s.add_argument("--use-gpu", action="store_true", help="one GPU per Ray Train worker")
    s.add_argument("--objective", default="accuracy", choices=tuple(OBJECTIVES),
                   help="; ".join(f"{k}: {v}" for k, v in OBJECTIVES.items()))
    s.add_argument("--objective-images", type=int, default=1000,
                   help="test images of the per-epoch Grad AUC (objectives auc and combined)")
    s.add_argument("--sweep-seed", type=int, default=None, help="seed of the parameter sampling")
    s.add_argument("--storage-path", default=None, help="trial runs and Tune state (default ~/smoot_dist/runs)")
    s.add_argument("--ray-address", default=None, help="cluster to join (default: $RAY_ADDRESS or a local Ray)")
    s.add_argument("--output-dir", type=Path, default=None, help="default: ~/smoot_dist/sweeps/<sweep id>")
    t = p.add_argument_group("tracking")
    t.add_argument("--tracking-uri", default=None)
    t.add_argument("--experiment", default="smoot_dist")
    t.add_argument("--no-tracking", action="store_true")
    return p, p.parse_args()


def main() -> int:
    p, args = parse_args()
    for flag in ("num_samples", "max_concurrent", "workers_per_trial", "objective_images"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    base = config_from_args(args)
    from smoot_dist.search_space import load_search_space
    from smoot_dist.sweep import run

    space = load_search_space(args.search_space)
    run(base, space, args, sweep_id=f"sweep-{time.strftime('%Y%m%d-%H%M%S')}")
    return 0


if __name__ == "__main__":
    run_cli(main)
