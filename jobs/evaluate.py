#!/usr/bin/env python
"""Saliency evaluation of a trained run: accuracy-drop (MoRF) curves and their AUC.

For each attribution method, remove 0%, 10%, ..., 90% of each test image's most salient pixels
(filled with the image's background value) and measure test accuracy; AUC is the trapezoid of
accuracy (%) over the removed fraction (lower = more faithful saliency; a flat 100% scores 90).

  python jobs/evaluate.py ~/smoot_dist/runs/fashion_mnist-smoot-20261128-070056
  python jobs/evaluate.py fashion_mnist-smoot-20261128-070056 --methods grad,random
  python jobs/evaluate.py 3f8a825d35a64fc786e3f323e6934f05 --tracking-uri http://mlflow:5000

Writes drop_curves.csv, auc.json and drop_curves.png to <run folder>/evaluation/ and logs
auc_<method> metrics and those files to the run's MLflow run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smoot_dist.cli import run_cli  # noqa: E402
from smoot_dist.config_cli import OneLineParser  # noqa: E402
from smoot_dist.evaluation.attribution import ATTRIBUTION_METHODS, TITLES, parse_methods  # noqa: E402


def main() -> int:
    p = OneLineParser(prog="jobs/evaluate.py", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="run folder, run name (under ~/smoot_dist/runs) or MLflow run id")
    p.add_argument("--methods", default="all",
                   help=f"comma-separated, or all: {', '.join(ATTRIBUTION_METHODS)}")
    p.add_argument("--test-subset", type=int, default=None,
                   help="evaluate on N test images (deterministic, class-balanced; default all)")
    p.add_argument("--batch-size", type=int, default=500, help="images per attribution batch")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0, help="seed of the noisy methods and Random")
    p.add_argument("--output-dir", type=Path, default=None, help="default: <run folder>/evaluation")
    p.add_argument("--tracking-uri", default=None, help="MLflow store of the run (default: the run's own)")
    p.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args()
    methods = parse_methods(args.methods)
    if args.batch_size < 1:
        p.error(f"--batch-size must be >= 1, got {args.batch_size}")
    from smoot_dist.evaluation.job import evaluate_run
    from smoot_dist.trained import load_trained

    run = load_trained(args.run, args.tracking_uri)
    result = evaluate_run(run, methods, test_subset=args.test_subset, batch_size=args.batch_size,
                          device=args.device, seed=args.seed, output_dir=args.output_dir,
                          tracking=not args.no_tracking, progress=not args.no_progress)
    print("\nmethod | AUC | accuracy (%) at 0%, 10%, ..., 90% removed")
    for m in methods:
        acc = " ".join(f"{a:5.1f}" for a in result["accuracy"][m])
        print(f"{TITLES[m]:>19} | {result['auc'][m]:6.2f} | {acc}")
    print(f"\nfiles: {result['output_dir']}"
          + (f"\nlogged to MLflow run {result['mlflow_run_id']}" if result.get("mlflow_run_id") else ""))
    return 0


if __name__ == "__main__":
    run_cli(main)
