#!/usr/bin/env python
"""Cost of the per-epoch collectives of the mask state against an epoch, under Ray Train
(CPU, 2 workers): the K-histogram all-reduce (P + 4 numbers, exact min/median/max), and the
mask-state all-gather that each checkpoint needs, next to the epoch they serve.

  python bench/allreduce.py --train-subset 10000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from common import print_table

from smoot_dist.launch.ray_cluster import connect, prefer_loopback_ray

prefer_loopback_ray(None)  # before Ray's first import: the local Ray binds 127.0.0.1 only

import ray.train  # noqa: E402
from ray.train import RunConfig, ScalingConfig  # noqa: E402
from ray.train.torch import TorchTrainer  # noqa: E402

from smoot_dist.config import build_config  # noqa: E402
from smoot_dist.launch.collectives import all_reduce_sum, gather_k  # noqa: E402
from smoot_dist.method.kstats import k_stats_payload  # noqa: E402


def _loop(config):
    import torch

    torch.set_num_threads(1)
    cfg = config["cfg"]
    ctx = ray.train.get_context()
    from smoot_dist.training.trainer import Trainer

    trainer = Trainer(cfg, rank=ctx.get_world_rank(), world_size=ctx.get_world_size(),
                      wrap_model=ray.train.torch.prepare_model, all_reduce=all_reduce_sum,
                      progress=False, log=lambda s: None)
    trainer.run_epoch()  # warm-up
    epoch = trainer.run_epoch()["epoch_time_s"]

    def timed(fn, n=30):
        out = []
        for _ in range(n):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
        return statistics.median(out)

    m = cfg.method
    reduce_s = timed(lambda: all_reduce_sum(
        k_stats_payload(trainer.mask_state.k, trainer.num_pixels, m.k_min, m.k_max)))
    gather_s = timed(lambda: gather_k(trainer))
    metrics = {"epoch_s": epoch, "reduce_s": reduce_s, "gather_s": gather_s,
               "n": trainer.num_train, "p": trainer.num_pixels}
    # Ray keeps the metrics of reports that carry a checkpoint: rank 0 attaches an empty one.
    if ctx.get_world_rank() == 0:
        with tempfile.TemporaryDirectory() as folder:
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))
    else:
        ray.train.report(metrics)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-subset", type=int, default=10000)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    cfg = build_config(overrides={"data": {"dataset": "fashion_mnist", "train_subset": args.train_subset},
                                  "method": {"name": "smoot"}, "train": {"epochs": 2}})
    connect(None)
    result = TorchTrainer(_loop, train_loop_config={"cfg": cfg},
                          scaling_config=ScalingConfig(num_workers=args.workers),
                          run_config=RunConfig(storage_path=tempfile.mkdtemp(prefix="bench-"))).fit()
    m = result.metrics
    print(f"mask-state collectives vs an epoch: SMOOT, Fashion-MNIST, N = {int(m['n'])}, "
          f"P = {int(m['p'])}, {args.workers} CPU workers (gloo)")
    print_table(["collective", "ms", "share of the epoch"],
                [["K histogram all-reduce", 1000 * m["reduce_s"], f"{m['reduce_s'] / m['epoch_s']:.2e}"],
                 ["mask state all-gather", 1000 * m["gather_s"], f"{m['gather_s'] / m['epoch_s']:.2e}"],
                 ["the epoch itself", 1000 * m["epoch_s"], "1"]])


if __name__ == "__main__":
    main()
