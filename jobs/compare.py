#!/usr/bin/env python
"""Compare finished runs as in the paper's tables, seeds aggregated as mean +- std.

  Method | #Test | Min(K) | Median(K) | Max(K) | Accuracy | AUC

  python jobs/compare.py                                   # every run of the MLflow experiment
  python jobs/compare.py --tag sweep=abc --auc-method grad
  python jobs/compare.py --run-ids ID1,ID2,ID3
  python jobs/compare.py --runs ~/smoot_dist/runs/a ~/smoot_dist/runs/b    # no MLflow needed

Writes comparison.md, comparison.csv, drop_curves_<dataset>.png (mean accuracy-drop curves)
and saliency_maps_<dataset>.png (Grad saliency of one run per method) to --output-dir.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smoot_dist.cli import run_cli  # noqa: E402
from smoot_dist.config_cli import OneLineParser  # noqa: E402


def main() -> int:
    p = OneLineParser(prog="jobs/compare.py", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("which runs (default: every finished run of the MLflow experiment)")
    src.add_argument("--runs", nargs="+", type=Path, default=None, help="run folders")
    src.add_argument("--run-ids", default=None, help="comma-separated MLflow run ids")
    src.add_argument("--experiment", default="smoot_dist", help="MLflow experiment")
    src.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                     help="only MLflow runs with this tag (repeatable)")
    src.add_argument("--tracking-uri", default=None)
    p.add_argument("--auc-method", default="grad", help="attribution method whose AUC the table shows")
    p.add_argument("--output-dir", type=Path, default=None,
                   help="default: ~/smoot_dist/comparisons/<time>")
    p.add_argument("--figure-images", type=int, default=6, help="test images in the saliency figure (0: none)")
    args = p.parse_args()
    from smoot_dist.evaluation.report import compare_and_report

    tags = {}
    for item in args.tag:
        if "=" not in item:
            p.error(f"--tag takes KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        tags[key] = value
    from smoot_dist.tracking import smoot_home

    out = args.output_dir or smoot_home() / "comparisons" / time.strftime("%Y%m%d-%H%M%S")
    compare_and_report(out, folders=args.runs,
                       run_ids=args.run_ids.split(",") if args.run_ids else None,
                       experiment=args.experiment, tags=tags, tracking_uri=args.tracking_uri,
                       auc_method=args.auc_method, figure_images=args.figure_images)
    return 0


if __name__ == "__main__":
    run_cli(main)
