"""Block ownership (whole shard files per rank), the planned re-batching of a stream, and the
Trainer's per-epoch check that every sample was visited exactly once, by its owner."""

import dataclasses

import pytest
import torch

from smoot_dist.config import build_config
from smoot_dist.data.loading import ImageTensors, Splits
from smoot_dist.foundations.catalog import get_dataset_spec
from smoot_dist.data.sharding import (batch_sizes, shard_indices, shard_owner, shard_positions,
                                      shard_size, steps_per_epoch)
from smoot_dist.method.mask_state import MaskState, global_k
from smoot_dist.training.batches import MemoryBatches, planned_sizes, shuffled_batches
from smoot_dist.training.trainer import Trainer, VisitError


@pytest.mark.parametrize("n, world, block", [(3000, 2, 250), (1100, 2, 500), (1401, 3, 100),
                                             (7, 5, 3), (10, 3, 1), (0, 2, 4)])
def test_blocks_go_round_the_ranks_and_cover_every_index_once(n, world, block):
    seen = torch.zeros(n, dtype=torch.long)
    for r in range(world):
        own = shard_indices(n, r, world, block)
        assert own.numel() == shard_size(n, r, world, block)
        assert torch.equal(shard_owner(own, world, block), torch.full_like(own, r))
        # dense positions 0, 1, 2, ... in index order: the mask state is one flat tensor
        assert torch.equal(shard_positions(own, world, block), torch.arange(own.numel()))
        # block b = [b * block, (b + 1) * block) belongs to rank b mod W
        assert all((i // block) % world == r for i in own.tolist())
        seen[own] += 1
    assert bool((seen == 1).all())


def test_mask_state_with_blocks_round_trips_through_the_global_vector():
    k = torch.rand(1100)
    states = [MaskState.from_global(k, r, 2, block=500) for r in range(2)]
    assert [s.k.numel() for s in states] == [600, 500]  # blocks 0 and 2 (100 rows) on rank 0
    assert torch.equal(states[0].get(torch.tensor([0, 499, 1000, 1099])), k[[0, 499, 1000, 1099]])
    states[1].set(torch.tensor([500, 999]), torch.tensor([0.25, 0.75]))
    back = global_k([s.to_table() for s in states], 1100)
    assert back[500] == 0.25 and back[999] == 0.75 and torch.equal(back[:500], k[:500])


def test_planned_sizes_give_every_rank_the_same_step_count():
    n, world, batch, block = 1100, 2, 256, 500
    steps = steps_per_epoch(n, world, batch, block)
    assert steps == 5  # rank 0 holds 600 rows, 128 a step at most
    sizes = [planned_sizes(n, r, world, batch, block) for r in range(world)]
    assert [len(s) for s in sizes] == [5, 5] and [sum(s) for s in sizes] == [600, 500]
    assert sizes[1] == [100] * 5 and max(sizes[0]) - min(sizes[0]) <= 1
    assert batch_sizes(10, 3) == [4, 3, 3]


def _blocks(n, block):
    idx = torch.arange(n)
    return [(i, i.view(-1, 1, 1, 1).to(torch.uint8), i % 10) for i in idx.split(block)]


@pytest.mark.parametrize("buffer_rows", [1, 64, 250, 10_000])
def test_shuffled_batches_cut_the_planned_sizes_and_keep_rows_together(buffer_rows):
    sizes = batch_sizes(1000, 7)
    out = list(shuffled_batches(_blocks(1000, 100), sizes, buffer_rows, seed=3))
    assert [b[0].numel() for b in out] == sizes
    idx = torch.cat([b[0] for b in out])
    assert sorted(idx.tolist()) == list(range(1000))  # each row exactly once
    for i, images, labels in out:  # image and label stay with their index
        assert torch.equal(images.view(-1), i.to(torch.uint8)) and torch.equal(labels, i % 10)
    again = torch.cat([b[0] for b in shuffled_batches(_blocks(1000, 100), sizes, buffer_rows, 3)])
    other = torch.cat([b[0] for b in shuffled_batches(_blocks(1000, 100), sizes, buffer_rows, 4)])
    assert torch.equal(idx, again)  # deterministic for a seed
    if buffer_rows > 1:
        assert not torch.equal(idx, other) and not torch.equal(idx, torch.arange(1000))


def test_shuffled_batches_mix_rows_from_across_the_buffer():
    # 10 blocks of 100 rows; a 400-row buffer: the first batch draws from the first 4 blocks
    first = next(shuffled_batches(_blocks(1000, 100), batch_sizes(1000, 10), 400, seed=0))[0]
    assert len(set((first // 100).tolist())) == 4


def test_a_stream_that_delivers_the_wrong_row_count_is_an_error():
    with pytest.raises(RuntimeError, match="fewer rows"):
        list(shuffled_batches(_blocks(900, 100), batch_sizes(1000, 5), 200, seed=0))
    with pytest.raises(RuntimeError, match="more rows"):
        list(shuffled_batches(_blocks(1100, 100), batch_sizes(1000, 5), 200, seed=0))


def _tiny_splits(n=64):
    spec = dataclasses.replace(get_dataset_spec("mnist"), image_size=8)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8, generator=gen)
    data = ImageTensors(images, torch.arange(n) % 10)
    return Splits(spec, data, data.select(torch.arange(16)), torch.arange(n))


class _Duplicating(MemoryBatches):
    """A broken source: the epoch's last batch repeats its first one."""

    def epoch(self, epoch):
        batches = list(super().epoch(epoch))
        yield from batches[:-1]
        yield batches[0]


def _trainer(source_cls, rank=0, world=1):
    cfg = build_config(overrides={"data": {"dataset": "mnist"}, "train": {"batch_size": 16, "epochs": 1},
                                  "method": {"name": "sgt"}, "run": {"workers": 0}})
    splits = _tiny_splits()
    source = source_cls(splits.train, rank, world, 16, 0)
    return Trainer(cfg, device=torch.device("cpu"), splits=splits, train_batches=source, log=lambda s: None)


def test_the_trainer_counts_each_sample_visited_once():
    assert _trainer(MemoryBatches).train_epoch()["visited_once"] == 64


def test_the_trainer_stops_an_epoch_that_visits_a_sample_twice():
    with pytest.raises(VisitError, match=r"visited 32 of 64 samples exactly once \(64 visits"):
        _trainer(_Duplicating).train_epoch()


def test_the_trainer_stops_an_epoch_that_visits_another_ranks_sample():
    class Foreign(MemoryBatches):  # rank 0 of 2 handed an index that rank 1 owns
        def epoch(self, epoch):
            for idx, images, labels in super().epoch(epoch):
                yield idx, images, labels
            yield torch.tensor([1]), images[:1], labels[:1]

    t = _trainer(Foreign, rank=0, world=2)
    t.num_train = t.mask_state.num_samples  # single process: the all-reduce is local
    with pytest.raises(VisitError, match="on a rank that does not own"):
        t.train_epoch()
