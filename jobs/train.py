#!/usr/bin/env python
"""Train an image classifier with traditional training, SGT or SMOOT.

With no arguments: SMOOT on Fashion-MNIST with the papers' CNN, 2 epochs, on 2 local Ray Train
workers, tracked in the local MLflow store. Examples:

  python jobs/train.py --dataset fashion_mnist --method smoot --epochs 1 --train-subset 4000 --workers 0
  python jobs/train.py --config configs/mnist.yaml --epochs 100 --workers 4 --use-gpu
  ray job submit --working-dir . -- python jobs/train.py --workers 2 --tracking-uri http://mlflow:5000
  python jobs/train.py --run-name my-run ...      # run it again to continue from its last epoch
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

from smoot_dist.cli import run_cli  # noqa: E402
from smoot_dist.config_cli import OneLineParser, add_config_arguments, config_from_args  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = OneLineParser(prog="jobs/train.py", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(p)
    run = p.add_argument_group("run")
    run.add_argument("--workers", type=int, default=2,
                     help="Ray Train workers (default 2); 0 trains in this process without Ray")
    run.add_argument("--use-gpu", action="store_true", help="one GPU per Ray Train worker")
    run.add_argument("--run-name", default=None,
                     help="name of the run folder; an existing run of that name is continued "
                          "(default: <dataset>-<method>-<time>)")
    run.add_argument("--resume", action="store_true",
                     help="continue the run named by --run-name, or the latest run")
    run.add_argument("--storage-path", default=None,
                     help="where runs and checkpoints live: a folder or a URI such as s3://bucket/runs "
                          "(default: $SMOOT_HOME/runs, SMOOT_HOME defaulting to ~/smoot_dist)")
    run.add_argument("--max-failures", type=int, default=2,
                     help="worker-group restarts from the last checkpoint before giving up")
    run.add_argument("--ray-address", default=None,
                     help="Ray cluster to join (default: $RAY_ADDRESS, else start a local Ray)")
    run.add_argument("--summary-json", type=Path, default=None, help="also write the summary here")
    run.add_argument("--no-progress", action="store_true", help="no per-batch progress bar")
    track = p.add_argument_group("tracking")
    track.add_argument("--tracking-uri", default=None,
                       help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the local "
                            "SQLite store $SMOOT_HOME/mlflow.db)")
    track.add_argument("--experiment", default="smoot_dist", help="MLflow experiment name")
    track.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    return p.parse_args(argv)


def main() -> int:
    args = parse_args()
    cfg = config_from_args(args)
    from smoot_dist.job import JobOptions, run_training, where_to_look
    from smoot_dist.summary import paper_row, write_json

    opts = JobOptions(workers=args.workers, use_gpu=args.use_gpu, run_name=args.run_name,
                      storage_path=args.storage_path, resume=args.resume,
                      tracking=not args.no_tracking, tracking_uri=args.tracking_uri,
                      experiment=args.experiment, ray_address=args.ray_address,
                      max_failures=args.max_failures, progress=not args.no_progress)
    summary = run_training(cfg, opts)
    if args.summary_json:
        write_json(args.summary_json, summary)
    print(f"\n{paper_row(summary)}\n\n{where_to_look(summary)}\n"
          f"({summary['wall_time_s']:.1f} s)")
    return 0


if __name__ == "__main__":
    run_cli(main)
