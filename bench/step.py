#!/usr/bin/env python
"""Step time of traditional, SGT and SMOOT training, and of an SGT step written the way the SGT
reference code does it (Captum Saliency call, top-k on the CPU, a Python loop filling each
sample), measured side by side in one run on the MNIST CNN. Prints times and their ratios, and
SGT/plain against its floor: the ratio of the two steps' FLOPs (torch's FlopCounterMode), which
no implementation can beat (SGT does the saliency pass and a second branch on top of plain's
forward and backward). Without Captum the reference row is skipped, the rest still printed.
Then the same steps in each precision (fp32, and bf16 where the device computes it natively)
against this device's own peak: a large matmul and the CNN's costliest conv in that precision,
and what each step achieves (its FLOPs over its time) as a share of them.

  python bench/step.py                          # CPU here; a few steps give a rough table
  python bench/step.py --batch 256 --precision bf16   # fp32 and bf16 at batch 256
  python bench/step.py --device cuda --steps 50 --batch 256 1024 --json step.json
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from common import describe, dispatcher_calls, print_table, time_ms

from smoot_dist.config import build_config
from smoot_dist.data.loading import channel_stats, load_splits, normalize
from smoot_dist.training.graph_step import StaticStep
from smoot_dist.training.trainer import build_optimizer
from smoot_dist.attribution.methods import quiet_captum
from smoot_dist.method.step import method_step
from smoot_dist.models.registry import create_model


def reference_sgt_step(model, optimizer, x, y, count: int, lam: float = 1.0) -> None:
    """SGT as its reference implementation computes it: per-sample Python on the host."""
    from captum.attr import Saliency

    model.eval()
    with quiet_captum():
        grads = Saliency(model).attribute(x, target=y, abs=False).mean(1).detach().cpu()
    lowest = torch.topk(grads.flatten(1), count, dim=1, largest=False).indices
    masked = x.detach().clone().flatten(1)
    for i in range(x.shape[0]):  # one sample at a time, values drawn on the host
        lo, hi = masked[i].min().item(), masked[i].max().item()
        masked[i][lowest[i]] = torch.tensor(np.random.uniform(lo, hi, count), dtype=x.dtype,
                                            device=x.device)
    masked = masked.view_as(x)
    model.train()
    optimizer.zero_grad()
    logits, masked_logits = model(x), model(masked)
    loss = F.cross_entropy(logits, y) + lam * F.kl_div(
        F.log_softmax(masked_logits, 1), F.log_softmax(logits, 1), log_target=True,
        reduction="batchmean")
    loss.backward()
    optimizer.step()


def captum_missing() -> str | None:
    try:
        import captum.attr  # noqa: F401
    except ImportError as err:
        return str(err)
    return None


class _CountFlops(TorchDispatchMode):
    """Sums torch's own FLOP formulas (flop_registry: matmuls, convolutions and their
    backwards) over every op dispatched. FlopCounterMode does the same but tracks modules with
    autograd hooks that torch.autograd.grad (the saliency pass) does not support."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **(kwargs or {}), out_val=out)
        return out


def step_flops(step) -> int:
    """FLOPs of one call of `step` (forward, backward and the saliency pass it contains)."""
    with _CountFlops() as counter:
        step()
    return counter.total


def count_calls(cfg, splits) -> dict[str, int]:
    """Dispatcher calls of one training step per method, at batch 1 on the CPU (where the
    profiler counts them exactly; the same operators launch kernels on a GPU)."""
    x = normalize(splits.train.images[:1], *channel_stats(splits.spec, "cpu"))
    y = splits.train.labels[:1]
    calls = {}
    for method in ("traditional", "sgt", "smoot"):
        mcfg = build_config(overrides={"data": {"dataset": "mnist"}, "method": {"name": method}}).method
        torch.manual_seed(0)
        model = create_model(cfg.model, splits.spec)
        opt = build_optimizer("adadelta", model.parameters(), 1.0)
        k = torch.full((1,), 0.5)

        def step():
            out = method_step(mcfg, model, model, x, y, k)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
        calls[method] = dispatcher_calls(step)
    return calls


def peaks(device: torch.device, batch: int, precisions: list[str], repeats: int = 5
          ) -> dict[str, dict[str, float]]:
    """This device's own limits, in GFLOP/s, per precision: a 2048 x 2048 matmul (what the
    processor's matrix units reach at best) and the CNN's costliest layer, its second conv
    (32 -> 64 channels, 3 x 3, on 26 x 26 maps, at `batch`), forward."""
    out: dict[str, dict[str, float]] = {}
    n = 2048
    conv = torch.nn.Conv2d(32, 64, 3).to(device)
    conv_flops = 2 * batch * 64 * 24 * 24 * 32 * 9
    for name in precisions:
        dtype = torch.bfloat16 if name == "bf16" else torch.float32
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        feature = torch.randn(batch, 32, 26, 26, device=device, dtype=dtype)
        layer = conv.to(dtype)
        with torch.no_grad():
            mm_ms = time_ms(lambda: torch.mm(a, b), repeats, device)
            conv_ms = time_ms(lambda: layer(feature), repeats, device)
        out[name] = {"matmul": 2 * n ** 3 / mm_ms / 1e6, "conv": conv_flops / conv_ms / 1e6}
    return out


def precisions_here(device: torch.device) -> list[str]:
    """fp32, and bf16 where this device computes it natively (--precision auto's rule)."""
    from smoot_dist.training.precision import native_bf16

    return ["fp32", "bf16"] if native_bf16(device)[0] else ["fp32"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--batch", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--steps", type=int, default=5, help="timed steps per row (median)")
    p.add_argument("--precision", nargs="+", choices=("fp32", "bf16"),
                   help="the training steps' precisions (default: fp32, and bf16 where this "
                        "device computes it natively); the floor table is fp32's")
    p.add_argument("--json", help="also write the table and the key ratios to this JSON file")
    args = p.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    precisions = args.precision or precisions_here(device)
    if "fp32" not in precisions:
        precisions = ["fp32", *precisions]  # the FLOP-floor table is fp32's
    cfg = build_config(overrides={"data": {"dataset": "mnist"}})
    splits = load_splits(cfg.data)
    mean, std = channel_stats(splits.spec, device)
    no_captum = captum_missing()
    print(f"step time, MNIST CNN, {describe(device)}, median of {args.steps} steps")
    rows, flops, achieved = [], {}, []
    for batch in args.batch:
        x = normalize(splits.train.images[:batch].to(device), mean, std)
        y = splits.train.labels[:batch].to(device)
        for precision in precisions:
            autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16,  # noqa: E731
                                              enabled=precision == "bf16")
            times = timed_steps(cfg, splits, device, x, y, batch, args.steps, autocast,
                                flops if precision == "fp32" else None)
            for method in ("traditional", "sgt", "smoot", "smoot_fused"):
                achieved.append([batch, precision, method, times[method],
                                 flops[(batch, method.removesuffix("_fused"))] / times[method] / 1e6])
            if precision != "fp32":
                continue
            if no_captum is None:
                model = create_model(cfg.model, splits.spec).to(device)
                opt = build_optimizer("adadelta", model.parameters(), 1.0)
                count = round(0.5 * splits.spec.num_pixels)
                times["reference"] = time_ms(lambda: reference_sgt_step(model, opt, x, y, count),
                                             max(2, args.steps // 2), device, warmup=1)
            floor = flops[(batch, "sgt")] / flops[(batch, "traditional")]
            ratio = times["sgt"] / times["traditional"]
            reference = times.get("reference")
            rows.append([batch, times["traditional"], times["sgt"], times["smoot"], times["smoot_fused"],
                         times.get("smoot_graph", "-"), reference if reference else "-", flops[(batch, "traditional")] / 1e9,
                         flops[(batch, "sgt")] / 1e9, floor, ratio, ratio / floor,
                         times["smoot"] / times["sgt"], times["smoot_fused"] / times["smoot"],
                         reference / times["smoot"] if reference else "-"])
    calls = count_calls(cfg, splits)
    header = ["batch", "plain ms", "SGT ms", "SMOOT ms", "SMOOT fused ms", "SMOOT graph ms",
              "reference SGT ms",
              "plain GFLOP", "SGT GFLOP", "FLOP floor", "SGT/plain", "SGT/plain / floor",
              "SMOOT/SGT", "fused/SMOOT", "reference/SMOOT"]
    print_table(header, rows)
    if no_captum:
        print(f"reference-style row skipped: Captum is not importable ({no_captum})")
    print(f"dispatcher calls per step (profiler, batch 1, CPU): plain {calls['traditional']}, "
          f"SGT {calls['sgt']}, SMOOT {calls['smoot']}; SMOOT/SGT "
          f"{calls['smoot'] / calls['sgt']:.3f}")
    print("targets: SGT/plain within 1.1x of its FLOP floor; SMOOT/SGT <= 1.05 in time and in "
          "dispatcher calls; reference/SMOOT >= 20 at batch 256 (GPU)")
    limit = peaks(device, args.batch[0], precisions)
    print(f"\nthis device's peak, GFLOP/s: " + "; ".join(
        f"{name}: matmul 2048 {v['matmul']:.0f}, conv 32->64 3x3 at batch {args.batch[0]} "
        f"{v['conv']:.0f}" for name, v in limit.items()))
    shares = [[*row[:4], row[4], 100 * row[4] / limit[row[1]]["matmul"],
               100 * row[4] / limit[row[1]]["conv"]] for row in achieved]
    share_header = ["batch", "precision", "step", "ms", "GFLOP/s", "% of matmul peak",
                    "% of conv peak"]
    print("achieved by each step (its FLOPs by torch's formulas over its time) as a share of "
          "the peak in its precision:")
    print_table(share_header, shares)
    print("target: the bf16 SMOOT step at 50% of the bf16 matmul peak")
    if args.json:
        first = dict(zip(header, rows[0]))
        figures = {"calls SMOOT/SGT": round(calls["smoot"] / calls["sgt"], 3),
                   "batch": first["batch"], "SMOOT ms": round(first["SMOOT ms"], 3),
                   "SGT/plain / floor": round(first["SGT/plain / floor"], 3),
                   "SMOOT/SGT": round(first["SMOOT/SGT"], 3)}
        for row in shares:
            if row[0] == args.batch[0] and row[2] == "smoot":
                figures[f"SMOOT {row[1]} % of peak"] = round(row[5], 1)
        if first["SMOOT graph ms"] != "-":
            figures["SMOOT graph ms"] = round(first["SMOOT graph ms"], 3)
        if first["reference/SMOOT"] != "-":
            figures["reference/SMOOT"] = round(first["reference/SMOOT"], 1)
        with open(args.json, "w") as f:
            json.dump({"device": describe(device), "header": header, "rows": rows,
                       "figures": figures, "dispatcher_calls": calls, "peaks": limit,
                       "share_header": share_header, "shares": shares,
                       "reference_skipped": no_captum}, f, indent=1)


def timed_steps(cfg, splits, device, x, y, batch: int, steps: int, autocast,
                flops: dict | None) -> dict[str, float]:
    """Median ms of one training step per method (fused: SMOOT's two branches in one forward),
    the forward passes under `autocast` as the Trainer runs them; on a GPU the whole SMOOT step
    as a CUDA graph too. `flops`: filled with each method's FLOPs (counted once, in fp32)."""
    torch.manual_seed(0)
    times = {}
    for method, fuse in (("traditional", False), ("sgt", False), ("smoot", False), ("smoot", True)):
        mcfg = build_config(overrides={"data": {"dataset": "mnist"}, "method": {"name": method}}).method
        model = create_model(cfg.model, splits.spec).to(device)
        opt = build_optimizer("adadelta", model.parameters(), 1.0)
        k = torch.full((batch,), 0.5, device=device)

        def step():
            with autocast():
                out = method_step(mcfg, model, model, x, y, k, fuse=fuse)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
            if out.new_k is not None:
                k.copy_(out.new_k)
        if flops is not None and not fuse:
            flops[(batch, method)] = step_flops(step)
        times[method + ("_fused" if fuse else "")] = time_ms(step, steps, device)
    if device.type == "cuda":  # the whole SMOOT step as one CUDA graph (--cuda-graph)
        mcfg = build_config(overrides={"data": {"dataset": "mnist"}, "method": {"name": "smoot"}}).method
        model = create_model(cfg.model, splits.spec).to(device)
        opt = build_optimizer("adadelta", model.parameters(), 1.0, capturable=True)
        graph = StaticStep(mcfg, model, model, opt, batch, x, False, autocast)
        k = torch.full((batch,), 0.5, device=device)
        try:
            times["smoot_graph"] = time_ms(lambda: graph(x, y, k), steps, device)
        except Exception as err:  # noqa: BLE001 - a failed capture is a row, not the end
            print(f"CUDA graph row failed: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
    return times


if __name__ == "__main__":
    main()
