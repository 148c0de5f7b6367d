#!/usr/bin/env python
"""Throughput of the accuracy-drop (MoRF) evaluation per attribution method: images per second
for the whole curve (attribution + 10 removal levels), and the time for 10k test images.

  python bench/evaluation.py --images 500            # CPU here
  python bench/evaluation.py --device cuda --images 10000
"""

from __future__ import annotations

import argparse


from common import describe, print_table

from smoot_dist.config import DataConfig, build_config
from smoot_dist.data.loading import load_splits
from smoot_dist.training.trainer import Trainer, resolve_device
from smoot_dist.evaluation.attribution import ATTRIBUTION_METHODS, TITLES
from smoot_dist.evaluation.drop import accuracy_drop


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--images", type=int, default=500, help="test images to evaluate")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--methods", default=",".join(ATTRIBUTION_METHODS))
    args = p.parse_args()
    device = resolve_device(args.device)
    # A model worth explaining: one quick epoch of traditional training on real MNIST.
    cfg = build_config(overrides={"data": {"dataset": "mnist", "train_subset": 5000},
                                  "method": {"name": "traditional"},
                                  "train": {"epochs": 1, "device": args.device}})
    trainer = Trainer(cfg, progress=False, log=lambda s: None)
    trainer.fit()
    splits = load_splits(DataConfig("mnist", test_subset=args.images))
    methods = args.methods.split(",")
    curves = accuracy_drop(trainer.model, splits.test, splits.spec, methods, device=device,
                           batch_size=args.batch_size, progress=False)
    rows = [[TITLES[m], curves.seconds[m], args.images / curves.seconds[m],
             10000 * curves.seconds[m] / args.images, curves.auc[m]] for m in methods]
    print(f"accuracy-drop evaluation, MNIST CNN, {args.images} images, batch {args.batch_size}, "
          f"{describe(device)}")
    print_table(["method", "seconds", "images/s", "s per 10k", "AUC"], rows)
    print("target: 10k images with Grad <= 10 s on GPU")


if __name__ == "__main__":
    main()
