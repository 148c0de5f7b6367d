#!/usr/bin/env python
"""Train an image classifier with traditional training, SGT or SMOOT.

Examples:
  python jobs/train.py --dataset fashion_mnist --method smoot --epochs 1 --train-subset 4000 --workers 0
  python jobs/train.py --config configs/mnist.yaml --epochs 100 --summary-json summary.json
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

from smoot_dist.cli import run_cli  # noqa: E402
from smoot_dist.config_cli import OneLineParser, add_config_arguments, config_from_args  # noqa: E402
from smoot_dist.errors import UserError  # noqa: E402


def parse_args(argv=None):
    p = OneLineParser(prog="jobs/train.py", description=__doc__,
                      formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    add_config_arguments(p)
    run = p.add_argument_group("run")
    run.add_argument("--workers", type=int, default=0,
                     help="0: train in this process without Ray (default); N >= 1: Ray Train workers")
    run.add_argument("--output-dir", type=Path, default=None,
                     help="where the run's config, model and mask state go "
                          "(default: runs/<dataset>-<method>-<time>)")
    run.add_argument("--summary-json", type=Path, default=None, help="write the run summary here")
    run.add_argument("--no-progress", action="store_true", help="no per-batch progress bar")
    return p.parse_args(argv)


def main() -> int:
    args = parse_args()
    cfg = config_from_args(args)
    if args.workers < 0:
        raise UserError(f"--workers must be >= 0, got {args.workers}")
    if args.workers > 0:
        raise UserError("the Ray Train path (--workers N >= 1) is not available yet; use --workers 0")
    from smoot_dist.local_run import run_in_process
    from smoot_dist.summary import paper_row, write_json

    out = args.output_dir or Path("runs") / f"{cfg.data.dataset}-{cfg.method.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    summary = run_in_process(cfg, out, progress=not args.no_progress)
    write_json(out / "summary.json", summary)
    if args.summary_json:
        write_json(args.summary_json, summary)
    print()
    print(paper_row(summary))
    print(f"\nrun artifacts: {out}  ({summary['wall_time_s']:.1f} s)")
    return 0


if __name__ == "__main__":
    run_cli(main)
