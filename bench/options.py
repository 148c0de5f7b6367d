#!/usr/bin/env python
"""The speed options against each other, epoch by epoch: SMOOT on Fashion-MNIST in one process
(the Trainer every job runs), each combination of --precision, --channels-last,
--fuse-branches and --compile trained for a few epochs, the combinations interleaved round by
round so that a busy minute of the machine falls on all of them. Prints, per combination, the
steady-state epoch (training only; the median of epochs 2 on, over the rounds) with its range,
the first epoch's extra (compilation, warm-up), and the ratio to eager bf16; a combination wins
only when its whole range is below eager bf16's. Then, for --compile, the graph breaks dynamo
reported, by reason.

  python bench/options.py                                 # the default set, 3 rounds (~15 min here)
  python bench/options.py --rounds 1 --epochs 2 --variants bf16 bf16+compile
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter

import torch

from common import describe, print_table

from smoot_dist.config import build_config
from smoot_dist.training.trainer import Trainer

DEFAULT = ["fp32", "bf16", "bf16+channels_last", "bf16+fuse", "bf16+compile",
           "bf16+channels_last+compile", "fp32+compile"]
FLAGS = {"channels_last": "channels_last", "fuse": "fuse_branches", "compile": "compile"}


def variant_config(variant: str, args: argparse.Namespace):
    precision, *options = variant.split("+")
    unknown = [o for o in options if o not in FLAGS]
    if precision not in ("fp32", "bf16") or unknown:
        raise SystemExit(f"unknown variant {variant!r}: fp32|bf16 then +{'+'.join(FLAGS)}")
    train = {"epochs": args.epochs, "device": "cpu", "precision": precision, "eval_images": 0,
             "seed": 0, **{FLAGS[o]: True for o in options}}
    return build_config(overrides={"data": {"dataset": args.dataset,
                                            "train_subset": args.train_subset,
                                            "test_subset": 1000},
                                   "method": {"name": args.method}, "train": train})


def run_variant(variant: str, args: argparse.Namespace) -> tuple[list[float], Counter]:
    """Training seconds of each epoch, and the graph breaks dynamo counted (by reason)."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    trainer = Trainer(variant_config(variant, args), progress=False, log=lambda s: None)
    times = [trainer.run_epoch()["train_time_s"] for _ in range(args.epochs)]
    return times, Counter(dict(counters["graph_break"]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", default=DEFAULT)
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--method", default="smoot")
    p.add_argument("--train-subset", type=int, default=6000)
    p.add_argument("--epochs", type=int, default=3, help="per variant and round (>= 2)")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    if args.epochs < 2:
        raise SystemExit("--epochs must be at least 2: the first is warm-up (and compilation)")
    first: dict[str, list[float]] = {v: [] for v in args.variants}
    steady: dict[str, list[float]] = {v: [] for v in args.variants}
    breaks: dict[str, Counter] = {}
    for r in range(args.rounds):
        for v in args.variants:
            times, broke = run_variant(v, args)
            first[v].append(times[0])
            steady[v].append(statistics.median(times[1:]))
            breaks[v] = broke
            print(f"round {r + 1}/{args.rounds} {v}: epochs " + ", ".join(f"{t:.1f}" for t in times)
                  + " s", flush=True)
    base = statistics.median(steady["bf16"]) if "bf16" in steady else None
    base_high = max(steady["bf16"]) if "bf16" in steady else None
    rows = []
    for v in args.variants:
        med = statistics.median(steady[v])
        rows.append([v, med, f"{min(steady[v]):.2f}-{max(steady[v]):.2f}",
                     statistics.median(first[v]) - med,
                     base / med if base else "-",
                     ("wins" if base_high and max(steady[v]) < min(steady["bf16"]) else
                      "loses" if base_high and min(steady[v]) > base_high else "within noise")
                     if v != "bf16" else "(reference)"])
    print(f"\n{args.method} on {args.dataset}, {args.train_subset} images, batch 256, "
          f"{describe(torch.device('cpu'))}; {args.rounds} round(s) of {args.epochs} epochs")
    print_table(["variant", "steady epoch s", "range", "first epoch extra s",
                 "speed-up vs eager bf16", "against eager bf16"], rows)
    for v, broke in breaks.items():
        if "compile" in v:
            total = sum(broke.values())
            print(f"\n{v}: {total} graph break(s)" + (":" if total else ""))
            for reason, count in broke.most_common():
                print(f"  {count} x {reason}")


if __name__ == "__main__":
    main()
