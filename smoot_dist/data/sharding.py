"""Which samples a rank owns and in which order it visits them.

Rank r of W owns the global indices i with i mod W == r, for the whole run: its mask state
(k_i) lives with it and never moves between steps. Each epoch it visits exactly its own
samples, shuffled from (seed, epoch, rank), in `steps_per_epoch` near-equal batches; every
rank takes the same number of steps, which DDP needs.
"""

from __future__ import annotations

import math

import torch


def shard_indices(num_samples: int, rank: int, world_size: int) -> torch.Tensor:
    return torch.arange(rank, num_samples, world_size)


def shard_size(num_samples: int, rank: int, world_size: int) -> int:
    return len(range(rank, num_samples, world_size))


def steps_per_epoch(num_samples: int, world_size: int, global_batch: int) -> int:
    """Steps so that no rank's batch exceeds its share of the global batch (rank 0's shard is the largest)."""
    local_batch = max(1, global_batch // world_size)
    return max(1, math.ceil(shard_size(num_samples, 0, world_size) / local_batch))


def epoch_batches(num_samples: int, rank: int, world_size: int, global_batch: int,
                  seed: int, epoch: int) -> list[torch.Tensor]:
    """This rank's global indices for one epoch, shuffled and split into the epoch's batches."""
    own = shard_indices(num_samples, rank, world_size)
    gen = torch.Generator().manual_seed(mix_seed(seed, epoch, rank))
    order = own[torch.randperm(own.numel(), generator=gen)]
    # Near-equal chunks (sizes differ by at most one): the same count on every rank even when
    # shards differ in size by one sample, and never an empty batch.
    return list(torch.tensor_split(order, steps_per_epoch(num_samples, world_size, global_batch)))


def mix_seed(*values: int) -> int:
    """A stable 63-bit seed from several integers (Python's hash() is salted per process)."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (v + 0x9E3779B97F4A7C15 + (h << 6) + (h >> 2))) & 0x7FFFFFFFFFFFFFFF
    return h
