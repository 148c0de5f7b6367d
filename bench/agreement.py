#!/usr/bin/env python
"""Does each speed option compute what the eager fp32 SMOOT step computes? One real MNIST batch,
the same (briefly trained) weights, dropout off (compiled kernels draw other dropout masks):
loss, KL, the updated k and the gradient, option against eager. tests/integration/test_fast_path.py
asserts the same comparison on CPU.

  python bench/agreement.py --device cuda
"""

from __future__ import annotations

import argparse

import torch

from common import describe, print_table, write_json

from smoot_dist.config import DataConfig, MethodConfig, build_config
from smoot_dist.data.loading import channel_stats, load_splits, normalize
from smoot_dist.training.trainer import Trainer, resolve_device
from smoot_dist.method.step import method_step
from smoot_dist.models.cnn import MnistCNN


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--train-subset", type=int, default=5000,
                   help="training images of the one epoch that gives the weights")
    p.add_argument("--json", help="also write the table to this JSON file")
    p.add_argument("--no-compile", action="store_true",
                   help="leave out the torch.compile row (compiling takes a minute on a CPU)")
    args = p.parse_args()
    device = resolve_device(args.device)
    trainer = Trainer(build_config(overrides={
        "data": {"dataset": "mnist", "train_subset": args.train_subset, "test_subset": 1000},
        "method": {"name": "traditional"},
        "train": {"epochs": 1, "device": args.device}}), progress=False, log=lambda s: None)
    trainer.fit()
    weights = trainer.model.state_dict()
    splits = load_splits(DataConfig("mnist", train_subset=args.batch))
    mean, std = channel_stats(splits.spec, device)
    x = normalize(splits.train.images.to(device), mean, std)
    y = splits.train.labels.to(device)
    k = torch.linspace(0.2, 0.8, args.batch, device=device)

    def make():
        m = MnistCNN().to(device)
        m.load_state_dict(weights)
        m.dropout1.p = m.dropout2.p = 0.0
        return m

    def step(model, run=None, xin=None, fuse=False, bf16=False):
        torch.manual_seed(7)
        run = run if run is not None else model
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = method_step(MethodConfig(name="smoot"), run, run, x if xin is None else xin, y, k, fuse=fuse)
        grads = torch.autograd.grad(out.loss, list(model.parameters()))
        return out, torch.cat([g.flatten() for g in grads])

    eager = step(make())
    variants = {"channels_last": lambda: step(make().to(memory_format=torch.channels_last),
                                              xin=x.contiguous(memory_format=torch.channels_last)),
                "fused branches": lambda: step(make(), fuse=True),
                "bf16 autocast": lambda: step(make(), bf16=True),
                "bf16 + channels_last": lambda: step(
                    make().to(memory_format=torch.channels_last), bf16=True,
                    xin=x.contiguous(memory_format=torch.channels_last))}
    if not args.no_compile:
        compiled_model = make()
        variants["torch.compile"] = lambda: step(compiled_model, run=torch.compile(compiled_model))
    rows, failed = [], {}
    for name, fn in variants.items():
        try:  # one option failing (a compiler missing on the device) leaves the others' rows
            out, g = fn()
        except Exception as err:  # noqa: BLE001 - reported as the option's row
            failed[name] = f"{type(err).__name__}: {str(err).strip().splitlines()[0][:200]}"
            continue
        rows.append([name, abs(out.loss.item() / eager[0].loss.item() - 1),
                     abs(out.kl.item() - eager[0].kl.item()),
                     (out.new_k - eager[0].new_k).abs().max().item(),
                     (out.new_k - eager[0].new_k).abs().mean().item(),
                     torch.nn.functional.cosine_similarity(g, eager[1], dim=0).item()])
    print(f"agreement with the eager fp32 SMOOT step, MNIST CNN, batch {args.batch}, {describe(device)}")
    print_table(["option", "loss rel. diff", "KL abs. diff", "max |k diff|", "mean |k diff|",
                  "grad cosine"],
                [[r[0], f"{r[1]:.1e}", f"{r[2]:.1e}", f"{r[3]:.1e}", f"{r[4]:.1e}", f"{r[5]:.6f}"]
                 for r in rows])
    for name, why in failed.items():
        print(f"{name}: failed ({why})")
    write_json(args.json, device=describe(device), rows=rows, failed=failed,
               figures={**{f"{r[0]} cosine": round(r[5], 6) for r in rows},
                        **{f"{n}": "failed" for n in failed}})
    print("asserted on CPU (tests/integration/test_fast_path.py): fp32 options loss 1e-4, max k 1e-4, "
          "cosine 0.9999; bf16 loss 2e-2, mean k 2e-3, max k 5e-2, cosine 0.98")


if __name__ == "__main__":
    main()
