#!/usr/bin/env python
"""Where one training step's time goes: torch's profiler over a few SMOOT (or SGT, plain) steps
of the MNIST CNN, in a precision and memory layout, the operators grouped into convolutions,
matrix products, and the rest (activations, pooling, dropout, casts and copies, softmax, the
masking), each group's share of the step and its top operators. What the step does outside the
convolutions and matmuls is what no faster kernel of theirs can win back.

  python bench/profile_step.py                                # bf16 and fp32, NCHW and channels_last
  python bench/profile_step.py --precision bf16 --layout nchw --top 15
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

from common import describe

from smoot_dist.config import build_config
from smoot_dist.data.loading import channel_stats, load_splits, normalize
from smoot_dist.method.step import method_step
from smoot_dist.models.registry import create_model
from smoot_dist.training.trainer import build_optimizer

CONV = ("convolution", "conv2d", "_convolution")
MATMUL = ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear")


def group(name: str) -> str:
    if any(c in name for c in CONV):
        return "convolutions"
    if name in MATMUL:
        return "matrix products"
    return "the rest"


def profile_step(method: str, precision: str, layout: str, batch: int, steps: int):
    cfg = build_config(overrides={"data": {"dataset": "mnist", "train_subset": batch},
                                  "method": {"name": method}})
    splits = load_splits(cfg.data)
    mean, std = channel_stats(splits.spec, "cpu")
    x = normalize(splits.train.images[:batch], mean, std)
    y = splits.train.labels[:batch]
    model = create_model(cfg.model, splits.spec)
    if layout == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = build_optimizer("adadelta", model.parameters(), 1.0)
    k = torch.full((batch,), 0.5)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = method_step(cfg.method, model, model, x, y, k)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()

    for _ in range(3):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    # self time of ATen operators only: each microsecond is counted once
    ops = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    total = sum(e.self_cpu_time_total for e in ops)
    groups: dict[str, list] = defaultdict(list)
    for e in ops:
        groups[group(e.key)].append(e)
    return total / steps / 1000, groups, total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", default="smoot", choices=("traditional", "sgt", "smoot"))
    p.add_argument("--precision", nargs="+", default=["bf16", "fp32"], choices=("fp32", "bf16"))
    p.add_argument("--layout", nargs="+", default=["nchw", "channels_last"],
                   choices=("nchw", "channels_last"))
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--top", type=int, default=8, help="operators shown per group")
    args = p.parse_args()
    print(f"{args.method} step, MNIST CNN, batch {args.batch}, {describe(torch.device('cpu'))}; "
          f"profiler self time of ATen operators, mean of {args.steps} steps")
    for precision in args.precision:
        for layout in args.layout:
            ms, groups, total = profile_step(args.method, precision, layout, args.batch, args.steps)
            print(f"\n{precision}, {layout}: {ms:.1f} ms per step")
            for name in ("convolutions", "matrix products", "the rest"):
                events = sorted(groups.get(name, []), key=lambda e: -e.self_cpu_time_total)
                share = sum(e.self_cpu_time_total for e in events) / total
                print(f"  {name}: {100 * share:.1f}%")
                for e in events[:args.top]:
                    print(f"    {100 * e.self_cpu_time_total / total:5.1f}%  {e.key} "
                          f"({e.count // args.steps} call(s) per step)")


if __name__ == "__main__":
    main()
