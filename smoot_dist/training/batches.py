"""Where a Trainer's training batches come from: one epoch at a time, as (global index, uint8
images, labels) on the device, exactly this rank's samples (data/sharding.py), in the epoch's
`steps` batches. No Ray here.

Two sources: `MemoryBatches` gathers from a split held whole in memory; the Ray Data stream
(launch/ray_data_stream.py) reads the rank's Parquet shard files and passes its blocks through
`shuffled_batches`, which shuffles them in a bounded buffer and cuts the planned batch sizes.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Protocol

import torch

from ..data.loading import ImageTensors
from ..data.sharding import batch_sizes, epoch_batches, mix_seed, shard_size, steps_per_epoch

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # global index, uint8 images, labels


class TrainBatches(Protocol):
    num_samples: int  # N, over all ranks
    block: int  # the ownership block (data/sharding.py)

    def epoch(self, epoch: int) -> Iterator[Batch]:
        """This rank's batches of one epoch, shuffled from (seed, epoch, rank)."""

    def steps(self) -> int:
        """Batches per epoch: the same on every rank."""


class MemoryBatches:
    """Index gathers from a split already on the device; one host-to-device copy per epoch."""

    block = 1

    def __init__(self, data: ImageTensors, rank: int, world_size: int, global_batch: int, seed: int):
        self.data, self.rank, self.world_size = data, rank, world_size
        self.global_batch, self.seed = global_batch, seed
        self.num_samples = len(data)

    def steps(self) -> int:
        return steps_per_epoch(self.num_samples, self.world_size, self.global_batch)

    def epoch(self, epoch: int) -> Iterator[Batch]:
        batches = epoch_batches(self.num_samples, self.rank, self.world_size, self.global_batch,
                                self.seed, epoch)
        sizes = [b.numel() for b in batches]
        order = torch.cat(batches).to(self.data.labels.device)
        for idx in order.split(sizes):
            yield idx, self.data.images[idx], self.data.labels[idx]


def planned_sizes(num_samples: int, rank: int, world_size: int, global_batch: int,
                  block: int) -> list[int]:
    """A streamed rank's batch sizes for one epoch: its shard in `steps_per_epoch` near-equal
    batches, known before reading a byte, so every rank takes the same number of steps."""
    steps = steps_per_epoch(num_samples, world_size, global_batch, block)
    return batch_sizes(shard_size(num_samples, rank, world_size, block), steps)


def shuffled_batches(blocks: Iterable[Batch], sizes: list[int], buffer_rows: int,
                     seed: int) -> Iterator[Batch]:
    """Re-cut a stream of blocks into batches of `sizes`, shuffled in a buffer of about
    `buffer_rows` rows: when the buffer is full it is permuted (from `seed`) and batches are cut
    from it until half of it is left; at the end of the stream the rest goes out permuted.
    Deterministic for a deterministic block order. Rows in must equal sum(sizes)."""
    gen = torch.Generator().manual_seed(seed)
    pending = list(sizes)
    buffer: list[Batch] = []
    held = 0

    def cut(keep: int) -> Iterator[Batch]:
        nonlocal buffer, held
        idx, images, labels = (torch.cat(part) for part in zip(*buffer))
        order = torch.randperm(idx.numel(), generator=gen).to(idx.device)
        idx, images, labels = idx[order], images[order], labels[order]
        start = 0
        while pending and held - start - pending[0] >= keep:
            size = pending.pop(0)
            yield idx[start:start + size], images[start:start + size], labels[start:start + size]
            start += size
        buffer = [(idx[start:], images[start:], labels[start:])]
        held -= start

    for block in blocks:
        buffer.append(block)
        held += block[0].numel()
        if held >= buffer_rows:
            yield from cut(keep=buffer_rows // 2)
    if held:
        yield from cut(keep=0)
    if pending or held:
        raise RuntimeError(f"the stream delivered {'fewer' if pending else 'more'} rows than "
                           f"this rank's shard holds; the dataset changed while training")


def stream_seed(seed: int, epoch: int, rank: int) -> int:
    return mix_seed(seed, epoch, rank, 2)
