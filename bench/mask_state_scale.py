#!/usr/bin/env python
"""The mask state at ImageNet size, through the real code: N = 1,281,167 samples, P = 224*224 =
50,176 pixels, W = 8 ranks (processes on a local gloo group, CPU). Prints each rank's memory
and the time of every epoch-boundary step against the 1% budget of an ImageNet epoch on 8 GPUs
at 3,000 images/s each (N / 24,000 = 53.4 s, so 534 ms).

  python bench/mask_state_scale.py
  python bench/mask_state_scale.py --samples 100000 --world 4      # smaller, quicker

k values are synthetic (a fixed function of the global index in [k_min, k_max]), so any rank
count builds the same global vector; every step is checked against a plain reference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from common import print_table

from smoot_dist.data.sharding import shard_indices
from smoot_dist.launch.collectives import all_reduce_sum, gather_k
from smoot_dist.method.kstats import k_stats_payload, summarize_k_stats
from smoot_dist.method.mask_state import MaskState, global_k, write_mask_parquet
from smoot_dist.training.checkpoint import load_checkpoint, save_checkpoint

K_MIN, K_MAX = 0.2, 0.8


def synthetic_k(index: torch.Tensor) -> torch.Tensor:
    """A k in [K_MIN, K_MAX] for each global index, the same on every rank, SMOOT-clamped."""
    frac = torch.frac(torch.sin(index.double() * 12.9898) * 43758.5453).abs()
    return (K_MIN + (K_MAX - K_MIN) * frac).float().clamp_(K_MIN, K_MAX)


def timed(fn, repeats: int) -> tuple[float, object]:
    """Median wall time (s) of `fn` over `repeats` calls, and its last result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


class _Holder:
    """What gather_k reads from a trainer: its mask state."""

    def __init__(self, state: MaskState):
        self.mask_state = state


def _rank(rank: int, world: int, args: argparse.Namespace, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    n, p = args.samples, args.pixels
    own = shard_indices(n, rank, world, args.block)
    state = MaskState(synthetic_k(own), n, rank, world, block=args.block)  # this rank's shard only
    t = {}
    t["histogram"], payload = timed(lambda: k_stats_payload(state.k, p, K_MIN, K_MAX), 5)
    t["all-reduce (P+4 numbers)"], total = timed(lambda: all_reduce_sum(payload.clone()), 5)
    stats = summarize_k_stats(total, p)
    t["all-gather (for the checkpoint)"], k_global = timed(lambda: gather_k(_Holder(state)), 3)
    # Per-rank parts, the alternative: each rank writes its own N/W rows, in parallel.
    part = Path(out_dir) / f"part-{rank}.parquet"
    t["write own part (alternative)"], _ = timed(lambda: write_mask_parquet(part, state.to_table()), 3)
    dist.barrier()
    memory = {"k shard": state.k.numel() * 4, "histogram payload": payload.numel() * 8,
              "gathered k (checkpoint only)": k_global.numel() * 4}
    reports = [None] * world
    dist.all_gather_object(reports, {"t": t, "memory": memory, "stats": stats,
                                     "shard": state.k.numel()})
    if rank == 0:
        _report(args, reports, k_global, stats, out_dir)
    dist.destroy_process_group()


def _report(args, reports, k_global: torch.Tensor, stats: dict, out_dir: str) -> None:
    n, p, world = args.samples, args.pixels, args.world
    reference = synthetic_k(torch.arange(n))
    assert torch.equal(k_global, reference), "gathered k differs from the reference"
    counts = np.round(reference.double().numpy() * p).astype(np.int64)
    assert (stats["min"], stats["median"], stats["max"]) == \
        (counts.min(), float(np.median(counts)), counts.max()), "K statistics differ"
    folder = Path(out_dir) / "checkpoint"
    model = {"model": {}, "optimizer": {}, "epoch": 1}
    write_s, _ = timed(lambda: save_checkpoint(folder, model, k_global, [{"epoch": 1}]), 3)
    read_s, loaded = timed(lambda: load_checkpoint(folder, n, needs_mask=True,
                                                   k_bounds=(K_MIN, K_MAX))[1], 3)
    assert torch.equal(loaded, reference)
    to = args.reshard_to
    reshard_s, shards = timed(lambda: [MaskState.from_global(loaded, r, to, block=args.block)
                                             for r in range(to)], 3)
    assert torch.equal(torch.cat([s.k for s in shards]).sort().values, reference.sort().values)
    parts = [Path(out_dir) / f"part-{r}.parquet" for r in range(world)]
    parts_read_s, joined = timed(lambda: global_k([pq.read_table(f) for f in parts], n), 3)
    assert torch.equal(joined, reference)
    slowest = {key: max(r["t"][key] for r in reports) for key in reports[0]["t"]}
    epoch_s = n / (world * args.images_per_s)
    budget = 0.01 * epoch_s
    rows = [[step, 1000 * s, f"{100 * s / epoch_s:.3f}%"] for step, s in (
        ("K histogram (per rank)", slowest["histogram"]),
        ("K histogram all-reduce", slowest["all-reduce (P+4 numbers)"]),
        ("mask-state all-gather", slowest["all-gather (for the checkpoint)"]),
        ("checkpoint write (rank 0, whole state, fsynced)", write_s),
        ("checkpoint read + checks (resume)", read_s),
        (f"re-shard to W = {to} (all {to} shards)", reshard_s),
    )]
    every_epoch = (slowest["histogram"] + slowest["all-reduce (P+4 numbers)"]
                   + slowest["all-gather (for the checkpoint)"] + write_s)
    size_mb = (folder / "mask_state.parquet").stat().st_size / 2**20
    print(f"mask state at scale: N = {n:,}, P = {p:,}, W = {world} ranks owning shards of "
          f"{args.block:,} rows (gloo, CPU, "
          f"{os.cpu_count()} cores for all of them)")
    print(f"epoch = N / ({world} x {args.images_per_s:,} images/s) = {epoch_s:.1f} s; "
          f"1% budget = {1000 * budget:.0f} ms\n")
    print_table(["epoch-boundary step", "ms", "share of the epoch"], rows)
    print(f"\nevery epoch (histogram + all-reduce + all-gather + write): {1000 * every_epoch:.0f} ms "
          f"= {100 * every_epoch / epoch_s:.3f}% of the epoch -> "
          f"{'within' if every_epoch <= budget else 'OVER'} the 1% budget")
    print(f"mask_state.parquet: {size_mb:.1f} MiB for {n:,} samples")
    mem = reports[0]["memory"]
    shard = max(r["shard"] for r in reports)
    print(f"memory per rank: k shard {mem['k shard'] / 2**20:.2f} MiB ({shard:,} samples), "
          f"histogram payload {mem['histogram payload'] / 2**20:.2f} MiB ({p + 4:,} numbers); "
          f"the gathered vector for the checkpoint {mem['gathered k (checkpoint only)'] / 2**20:.1f} "
          f"MiB while it is written")
    print(f"per-rank parts instead (no all-gather): the slowest rank writes its part in "
          f"{1000 * slowest['write own part (alternative)']:.0f} ms; a resume reads and joins the "
          f"{world} parts in {1000 * parts_read_s:.0f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=1_281_167, help="N (ImageNet-1k train)")
    p.add_argument("--pixels", type=int, default=224 * 224, help="P")
    p.add_argument("--world", type=int, default=8, help="ranks (processes)")
    p.add_argument("--reshard-to", type=int, default=6, help="the world size of the resume")
    p.add_argument("--block", type=int, default=1251,
                   help="rows per Parquet shard: a rank owns whole shards, as when streaming "
                        "(1,251: ImageNet in 1,024 shards; 1: the in-memory i mod W layout)")
    p.add_argument("--images-per-s", type=int, default=3000, help="per GPU, for the budget")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="mask-scale-") as out_dir:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        mp.spawn(_rank, args=(args.world, args, port, out_dir), nprocs=args.world, join=True)


if __name__ == "__main__":
    main()
