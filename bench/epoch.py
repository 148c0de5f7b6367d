#!/usr/bin/env python
"""Epoch time of traditional, SGT and SMOOT training on MNIST (with the per-epoch test
evaluation), and the 100-epoch time it extrapolates to, measured side by side in one run.

  python bench/epoch.py --train-subset 10000      # CPU here: a share of the epoch, scaled up
  python bench/epoch.py --device cuda             # the full 60k epoch
"""

from __future__ import annotations

import argparse
import time

import torch

from common import describe, print_table

from smoot_dist.config import build_config
from smoot_dist.training.trainer import Trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--train-subset", type=int, default=None,
                   help="time an epoch over N samples and scale to 60k (default: all 60k)")
    p.add_argument("--methods", nargs="+", default=["traditional", "sgt", "smoot"])
    args = p.parse_args()
    rows = []
    scale = 60000 / args.train_subset if args.train_subset else 1.0
    for method in args.methods:
        cfg = build_config(overrides={"data": {"dataset": "mnist", "train_subset": args.train_subset},
                                      "method": {"name": method},
                                      "train": {"epochs": 2, "device": args.device}})
        trainer = Trainer(cfg, progress=False, log=lambda s: None)
        trainer.run_epoch()  # warm-up (allocator, kernels, caches)
        start = time.perf_counter()
        m = trainer.run_epoch()
        wall = time.perf_counter() - start
        train_s, eval_s = m["train_time_s"] * scale, m["epoch_time_s"] - m["train_time_s"]
        rows.append([method, train_s, eval_s, train_s + eval_s, 100 * (train_s + eval_s),
                     m["test_accuracy"], wall])
    device = trainer.device
    print(f"MNIST epoch, batch 256, {describe(device)}"
          + (f"; train time scaled from {args.train_subset} samples to 60000" if args.train_subset else ""))
    print_table(["method", "train s/epoch", "test eval s", "epoch s", "100 epochs s",
                 "test acc after 2", "measured s"], rows)
    by = {r[0]: r for r in rows}
    if "smoot" in by and "sgt" in by:
        print(f"SMOOT/SGT epoch: {by['smoot'][3] / by['sgt'][3]:.2f}")
    print("target: 100 MNIST epochs of SMOOT (with test evaluation) <= 60 s on one H100/H200")


if __name__ == "__main__":
    torch.set_num_threads(torch.get_num_threads())
    main()
