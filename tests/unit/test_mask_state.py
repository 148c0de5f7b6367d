import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from smoot_dist.data.sharding import epoch_batches, shard_indices, steps_per_epoch
from smoot_dist.foundations.errors import UserError
from smoot_dist.method.mask_state import (MaskState, global_k, read_mask_parquet,
                                          write_mask_parquet)


@pytest.mark.parametrize("n,world", [(10, 1), (10, 3), (4001, 2), (7, 7)])
def test_shards_are_disjoint_and_cover_all_indices(n, world):
    shards = [shard_indices(n, r, world) for r in range(world)]
    allidx = torch.cat(shards)
    assert sorted(allidx.tolist()) == list(range(n))
    assert all((s % world == r).all() for r, s in enumerate(shards))


@pytest.mark.parametrize("n,world,batch", [(4000, 1, 256), (4001, 2, 256), (4001, 3, 100), (9, 2, 4)])
def test_epoch_batches_visit_exactly_the_shard_with_equal_step_counts(n, world, batch):
    steps = steps_per_epoch(n, world, batch)
    for r in range(world):
        bs = epoch_batches(n, r, world, batch, seed=0, epoch=3)
        assert len(bs) == steps
        assert all(b.numel() > 0 for b in bs)
        assert max(b.numel() for b in bs) <= max(1, batch // world)
        assert sorted(torch.cat(bs).tolist()) == shard_indices(n, r, world).tolist()
    a = torch.cat(epoch_batches(n, 0, world, batch, 0, 3))
    assert torch.equal(a, torch.cat(epoch_batches(n, 0, world, batch, 0, 3)))  # seeded
    assert not torch.equal(a, torch.cat(epoch_batches(n, 0, world, batch, 0, 4)))  # reshuffled


def test_get_and_set_by_global_index_on_a_shard():
    state = MaskState.initial(10, 0.5, rank=1, world_size=3)
    assert state.indices.tolist() == [1, 4, 7]
    state.set(torch.tensor([7, 1]), torch.tensor([0.3, 0.6]))
    assert state.get(torch.tensor([1, 4, 7])).tolist() == pytest.approx([0.6, 0.5, 0.3])


def test_parquet_round_trip_and_reshard(tmp_path):
    torch.manual_seed(0)
    n = 1001
    k = torch.rand(n)
    tables = [MaskState.from_global(k, r, 3).to_table() for r in range(3)]
    path = tmp_path / "mask_state.parquet"
    write_mask_parquet(path, pa.concat_tables(tables))
    back = read_mask_parquet(path, n)
    assert torch.equal(back, k)
    table = pq.read_table(path)
    assert table.column_names == ["index", "k"]
    assert table.schema.field("k").type == pa.float32()
    two = [MaskState.from_global(back, r, 2) for r in range(2)]
    assert torch.equal(global_k([s.to_table() for s in two], n), k)


def test_bad_mask_state_files_are_user_errors(tmp_path):
    missing_row = tmp_path / "a.parquet"
    pq.write_table(pa.table({"index": pa.array([0, 1, 3], pa.int64()),
                             "k": pa.array([0.5] * 3, pa.float32())}), missing_row)
    with pytest.raises(UserError, match="does not fit"):
        read_mask_parquet(missing_row, 4)
    garbage = tmp_path / "b.parquet"
    garbage.write_bytes(b"not parquet")
    with pytest.raises(UserError, match="not a valid Parquet"):
        read_mask_parquet(garbage)
    with pytest.raises(UserError, match="does not exist"):
        read_mask_parquet(tmp_path / "none.parquet")
    out_of_range = tmp_path / "c.parquet"
    pq.write_table(pa.table({"index": pa.array([0, 1], pa.int64()),
                             "k": pa.array([0.5, 1.5], pa.float32())}), out_of_range)
    with pytest.raises(UserError, match="outside"):
        read_mask_parquet(out_of_range, 2)


class _NotWeights:
    """Anything torch.load(weights_only=True) must refuse to build."""


def test_checkpoints_load_weights_only(tmp_path):
    import torch

    from smoot_dist.training.checkpoint import load_checkpoint, save_checkpoint

    good = save_checkpoint(tmp_path / "good", {"model": {"w": torch.ones(2)}, "optimizer": {}, "epoch": 1},
                           torch.full((4,), 0.5), [{"epoch": 1}])
    state, k, record = load_checkpoint(good, 4)
    assert state["epoch"] == 1 and torch.equal(k, torch.full((4,), 0.5)) and record["history"]
    bad = save_checkpoint(tmp_path / "bad", {"model": {}, "optimizer": {}, "epoch": 1,
                                             "x": _NotWeights()}, None, [])
    with pytest.raises(UserError, match="cannot be read"):
        load_checkpoint(bad)
