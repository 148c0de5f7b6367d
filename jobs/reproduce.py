#!/usr/bin/env python
"""Reproduce the paper's table for one dataset: train traditional, SGT and SMOOT with the
dataset's Table 1 preset for several seeds, evaluate each (accuracy-drop AUC), print the table.

  python jobs/reproduce.py --dataset fashion_mnist --epochs 1 --train-subset 4000
  python jobs/reproduce.py --dataset mnist --epochs 100 --seeds 3 --workers 0 --device cuda \\
      --attributions all --no-tracking                # one GPU, no Ray, no MLflow

Every run is a normal training run (its own folder and MLflow run, tagged reproduction=<id>);
the table, curves and saliency figure go to --output-dir.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smoot_dist.cli import run_cli  # noqa: E402
from smoot_dist.config_cli import OneLineParser  # noqa: E402

METHODS = ("traditional", "sgt", "smoot")


def main() -> int:
    p = OneLineParser(prog="jobs/reproduce.py", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="fashion_mnist", help="mnist | fashion_mnist | cifar10 | cifar100")
    p.add_argument("--epochs", type=int, default=100, help="epochs per run (the paper: 100)")
    p.add_argument("--seeds", type=int, default=3, help="runs per method (seeds 0..N-1)")
    p.add_argument("--train-subset", type=int, default=None, help="train on N samples (quick runs)")
    p.add_argument("--test-subset", type=int, default=None,
                   help="test accuracy and saliency evaluation on N test images (default all)")
    p.add_argument("--attributions", default="grad,random",
                   help="attribution methods to evaluate (comma-separated, or all); the table's AUC is Grad's")
    p.add_argument("--workers", type=int, default=2, help="Ray Train workers per run; 0: no Ray")
    p.add_argument("--use-gpu", action="store_true", help="one GPU per Ray Train worker")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="device with --workers 0 and for the evaluation")
    p.add_argument("--storage-path", default=None, help="where the run folders go")
    p.add_argument("--output-dir", type=Path, default=None,
                   help="default: ~/smoot_dist/reproductions/<dataset>-<time>")
    p.add_argument("--tracking-uri", default=None)
    p.add_argument("--no-tracking", action="store_true", help="no MLflow (e.g. where it is not installed)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args()
    if args.seeds < 1:
        p.error(f"--seeds must be >= 1, got {args.seeds}")
    from smoot_dist.config import build_config
    from smoot_dist.evaluation.attribution import parse_methods
    from smoot_dist.evaluation.job import evaluate_run
    from smoot_dist.evaluation.report import compare_and_report
    from smoot_dist.job import JobOptions, run_training
    from smoot_dist.trained import load_trained
    from smoot_dist.tracking import smoot_home

    attributions = parse_methods(args.attributions)
    if "grad" not in attributions:
        attributions.insert(0, "grad")
    tag = time.strftime("%Y%m%d-%H%M%S")
    out = args.output_dir or smoot_home() / "reproductions" / f"{args.dataset}-{tag}"
    start = time.perf_counter()
    folders = []
    for seed in range(args.seeds):
        for method in METHODS:
            cfg = build_config(overrides={
                "data": {"dataset": args.dataset, "train_subset": args.train_subset,
                         "test_subset": args.test_subset},
                "method": {"name": method},
                "train": {"epochs": args.epochs, "seed": seed, "device": args.device}})
            opts = JobOptions(workers=args.workers, use_gpu=args.use_gpu,
                              run_name=f"repro-{tag}-{args.dataset}-{method}-s{seed}",
                              storage_path=args.storage_path, tracking=not args.no_tracking,
                              tracking_uri=args.tracking_uri, progress=not args.no_progress,
                              tags={"reproduction": tag})
            print(f"\n== {method}, seed {seed}", flush=True)
            summary = run_training(cfg, opts)
            run = load_trained(summary["run_dir"])
            evaluate_run(run, attributions, test_subset=args.test_subset, device=args.device,
                         tracking=not args.no_tracking, progress=not args.no_progress)
            folders.append(Path(summary["run_dir"]))
    print(f"\n== {args.dataset}: {args.seeds} seed(s) x {len(METHODS)} methods, {args.epochs} epoch(s), "
          f"{time.perf_counter() - start:.0f} s\n")
    compare_and_report(out, folders=folders, auc_method="grad")
    return 0


if __name__ == "__main__":
    run_cli(main)
