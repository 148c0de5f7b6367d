#!/usr/bin/env python
"""Step time of traditional, SGT and SMOOT training, and of an SGT step written the way the SGT
reference code does it (Captum Saliency call, top-k on the CPU, a Python loop filling each
sample), measured side by side in one run on the MNIST CNN. Prints times and their ratios.

  python bench/step.py                          # CPU here; a few steps give a rough table
  python bench/step.py --device cuda --steps 50 --batch 256 1024
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from common import describe, print_table, time_ms

from smoot_dist.config import build_config
from smoot_dist.data.loading import channel_stats, load_splits, normalize
from smoot_dist.training.trainer import build_optimizer
from smoot_dist.evaluation.attribution import quiet_captum
from smoot_dist.method.step import method_step
from smoot_dist.models import create_model


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--batch", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--steps", type=int, default=5, help="timed steps per row (median)")
    args = p.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    cfg = build_config(overrides={"data": {"dataset": "mnist"}})
    splits = load_splits(cfg.data)
    mean, std = channel_stats(splits.spec, device)
    print(f"step time, MNIST CNN, {describe(device)}, median of {args.steps} steps")
    rows = []
    for batch in args.batch:
        x = normalize(splits.train.images[:batch].to(device), mean, std)
        y = splits.train.labels[:batch].to(device)
        torch.manual_seed(0)
        times = {}
        for method, fuse in (("traditional", False), ("sgt", False), ("smoot", False), ("smoot", True)):
            mcfg = build_config(overrides={"data": {"dataset": "mnist"}, "method": {"name": method}}).method
            model = create_model(cfg.model, splits.spec).to(device)
            opt = build_optimizer("adadelta", model.parameters(), 1.0)
            k = torch.full((batch,), 0.5, device=device)

            def step():
                out = method_step(mcfg, model, model, x, y, k, fuse=fuse)
                opt.zero_grad(set_to_none=True)
                out.loss.backward()
                opt.step()
                if out.new_k is not None:
                    k.copy_(out.new_k)
            times[method + ("_fused" if fuse else "")] = time_ms(step, args.steps, device)
        model = create_model(cfg.model, splits.spec).to(device)
        opt = build_optimizer("adadelta", model.parameters(), 1.0)
        count = round(0.5 * splits.spec.num_pixels)
        times["reference"] = time_ms(lambda: reference_sgt_step(model, opt, x, y, count),
                                     max(2, args.steps // 2), device, warmup=1)
        rows.append([batch, times["traditional"], times["sgt"], times["smoot"], times["smoot_fused"],
                     times["reference"], times["sgt"] / times["traditional"],
                     times["smoot"] / times["sgt"], times["smoot_fused"] / times["smoot"],
                     times["reference"] / times["smoot"]])
    print_table(["batch", "plain ms", "SGT ms", "SMOOT ms", "SMOOT fused ms", "reference SGT ms",
                 "SGT/plain", "SMOOT/SGT", "fused/SMOOT", "reference/SMOOT"], rows)
    print("targets (GPU): SGT/plain <= 2.5, SMOOT/SGT <= 1.05, reference/SMOOT >= 20 at batch 256")


if __name__ == "__main__":
    main()
