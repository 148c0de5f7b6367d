"""The collectives of a multi-worker run beyond DDP's gradients (torch.distributed, no Ray):
summing the epoch's metrics and K histogram, and gathering the sharded mask state."""

from __future__ import annotations

import torch
import torch.distributed as dist

from ..data.sharding import largest_shard, shard_indices, shard_size


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum `t` over all ranks, in place; the Trainer's `all_reduce` hook."""
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def gather_k(trainer) -> torch.Tensor:
    """The full k vector by global index (on every rank, on the CPU), from every rank's shard."""
    state = trainer.mask_state
    n, world, block = state.num_samples, state.world_size, state.block
    longest = largest_shard(n, world, block)
    padded = torch.zeros(longest, dtype=torch.float32, device=state.k.device)
    padded[: state.k.numel()] = state.k
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    k = torch.empty(n, dtype=torch.float32)
    for r, part in enumerate(parts):
        k[shard_indices(n, r, world, block)] = part[: shard_size(n, r, world, block)].cpu()
    return k
