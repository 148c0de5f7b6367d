"""Which samples a rank owns and in which order it visits them.

Ownership is a fixed function of the global index i, the world size W and a block length B:
the blocks [b * B, (b + 1) * B) go round the ranks, block b to rank b mod W. With B = 1 (data in
memory) rank r owns the i with i mod W == r; streamed Parquet shards use B = rows per shard, so a
rank owns whole shard files (f mod W == r) and reads about 1/W of the bytes. A rank's mask state
(k_i) lives with it for the whole run, densely at `shard_positions(i)`, and never moves between
steps. Each epoch a rank visits exactly its own samples, shuffled from (seed, epoch, rank), in
`steps_per_epoch` near-equal batches; every rank takes the same number of steps, which DDP needs.
"""

from __future__ import annotations

import math

import torch


def shard_indices(num_samples: int, rank: int, world_size: int, block: int = 1) -> torch.Tensor:
    """The global indices rank `rank` owns, ascending (their positions are 0, 1, 2, ...)."""
    if block == 1:
        return torch.arange(min(rank, num_samples), num_samples, world_size)
    starts = torch.arange(min(rank * block, num_samples), num_samples, world_size * block)
    within = torch.arange(block)
    index = (starts[:, None] + within[None, :]).flatten()
    return index[index < num_samples]


def shard_size(num_samples: int, rank: int, world_size: int, block: int = 1) -> int:
    full, rest = divmod(num_samples, block)  # full blocks, and the partial last one's length
    blocks = len(range(rank, full, world_size))
    return blocks * block + (rest if full % world_size == rank else 0)


def largest_shard(num_samples: int, world_size: int, block: int = 1) -> int:
    return max(shard_size(num_samples, r, world_size, block) for r in range(world_size))


def shard_owner(index: torch.Tensor, world_size: int, block: int = 1) -> torch.Tensor:
    return (index // block) % world_size


def shard_positions(index: torch.Tensor, world_size: int, block: int = 1) -> torch.Tensor:
    """Where each (owned) global index sits in its owner's dense shard."""
    if block == 1:
        return index // world_size
    return (index // (block * world_size)) * block + index % block


def steps_per_epoch(num_samples: int, world_size: int, global_batch: int, block: int = 1) -> int:
    """Steps so that no rank's batch exceeds its share of the global batch (set by the largest shard)."""
    local_batch = max(1, global_batch // world_size)
    return max(1, math.ceil(largest_shard(num_samples, world_size, block) / local_batch))


def batch_sizes(rows: int, steps: int) -> list[int]:
    """`rows` split into `steps` near-equal batches (sizes differ by at most one): the same step
    count on every rank even when shards differ in size; never an empty batch while rows >= steps."""
    base, extra = divmod(rows, steps)
    return [base + 1] * extra + [base] * (steps - extra)


def epoch_batches(num_samples: int, rank: int, world_size: int, global_batch: int,
                  seed: int, epoch: int) -> list[torch.Tensor]:
    """This rank's global indices for one epoch, shuffled and split into the epoch's batches."""
    own = shard_indices(num_samples, rank, world_size)
    gen = torch.Generator().manual_seed(mix_seed(seed, epoch, rank))
    order = own[torch.randperm(own.numel(), generator=gen)]
    return list(torch.tensor_split(order, steps_per_epoch(num_samples, world_size, global_batch)))


def mix_seed(*values: int) -> int:
    """A stable 63-bit seed from several integers (Python's hash() is salted per process)."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (v + 0x9E3779B97F4A7C15 + (h << 6) + (h >> 2))) & 0x7FFFFFFFFFFFFFFF
    return h
