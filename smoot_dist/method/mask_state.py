"""Per-sample masking fractions k_i, sharded by global index, and their Parquet form.

Rank r of W holds k only for the indices it owns (data/sharding.py: i mod W == r in memory,
whole shard files when streamed), densely by position, so a lookup is one gather and no step
needs communication. On disk the state is one Parquet
table with columns `index` (int64) and `k` (float32) covering every index of [0, N) once; any
world size re-shards it by index on load.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from ..data.sharding import shard_indices, shard_positions, shard_size
from ..foundations.errors import UserError


class MaskState:
    def __init__(self, k: torch.Tensor, num_samples: int, rank: int = 0, world_size: int = 1,
                 block: int = 1):
        own = shard_size(num_samples, rank, world_size, block)
        if k.numel() != own:
            raise ValueError(f"rank {rank} of {world_size} owns {own} samples, got {k.numel()} values")
        self.k = k.to(torch.float32)
        self.num_samples, self.rank, self.world_size, self.block = num_samples, rank, world_size, block

    @classmethod
    def initial(cls, num_samples: int, k0: float, rank: int = 0, world_size: int = 1,
                device: torch.device | str = "cpu", block: int = 1) -> "MaskState":
        n = shard_size(num_samples, rank, world_size, block)
        return cls(torch.full((n,), k0, dtype=torch.float32, device=device), num_samples, rank,
                   world_size, block)

    @classmethod
    def from_global(cls, k_global: torch.Tensor, rank: int = 0, world_size: int = 1,
                    device: torch.device | str = "cpu", block: int = 1) -> "MaskState":
        """This rank's share of a full vector indexed by global index."""
        n = k_global.numel()
        own = shard_indices(n, rank, world_size, block)
        return cls(k_global[own].to(device), n, rank, world_size, block)

    @property
    def indices(self) -> torch.Tensor:
        return shard_indices(self.num_samples, self.rank, self.world_size, self.block)

    def positions(self, global_idx: torch.Tensor) -> torch.Tensor:
        return shard_positions(global_idx, self.world_size, self.block)

    def get(self, global_idx: torch.Tensor) -> torch.Tensor:
        return self.k[self.positions(global_idx)]

    def set(self, global_idx: torch.Tensor, values: torch.Tensor) -> None:
        self.k[self.positions(global_idx)] = values.to(self.k.dtype)

    def to_table(self) -> pa.Table:
        return mask_table(self.indices, self.k)


def mask_table(index: torch.Tensor, k: torch.Tensor) -> pa.Table:
    return pa.table({"index": pa.array(index.cpu().numpy().astype("int64")),
                     "k": pa.array(k.detach().cpu().numpy().astype("float32"))})


def global_k(tables: list[pa.Table], num_samples: int | None = None) -> torch.Tensor:
    """The full k vector (by global index) from per-rank tables; checks full, single coverage."""
    table = pa.concat_tables(tables)
    index = torch.from_numpy(table.column("index").to_numpy().astype("int64"))
    k = torch.from_numpy(table.column("k").to_numpy().astype("float32"))
    n = num_samples if num_samples is not None else index.numel()
    if index.numel() != n or (index.numel() and (index.min() < 0 or index.max() >= n)):
        raise ValueError(f"mask state has {index.numel()} rows with indices outside [0, {n})"
                         if index.numel() == n else f"mask state has {index.numel()} rows, expected {n}")
    if torch.bincount(index, minlength=n).ne(1).any():
        raise ValueError("mask state does not cover every index exactly once")
    out = torch.empty(n, dtype=torch.float32)
    out[index] = k
    return out


_PARQUET_OPTIONS = dict(use_dictionary=False, compression="none",
                        column_encoding={"index": "DELTA_BINARY_PACKED"})


def write_mask_parquet(path: str | Path, table: pa.Table) -> None:
    """Write a mask-state table. The index column (ascending wherever it comes from: a gathered
    vector or a rank's shard) is delta-encoded, so it costs next to nothing; k, near-random
    floats, is stored uncompressed, which compression would not shrink. At N = 1.28M this is a
    17 ms, 5 MiB write (snappy with dictionaries: 86 ms, 11 MiB). Readers take any row order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    pq.write_table(table, tmp, **_PARQUET_OPTIONS)
    tmp.replace(path)  # a crash mid-write never leaves a half-written state behind


def mask_table_bytes(table: pa.Table) -> bytes:
    """The Parquet file `write_mask_parquet` writes, as bytes (to hash them while writing)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **_PARQUET_OPTIONS)
    return sink.getvalue().to_pybytes()


def read_mask_parquet(path: str | Path, num_samples: int | None = None,
                      k_bounds: tuple[float, float] | None = None) -> torch.Tensor:
    """The full k vector stored at `path`, validated: an integer `index` covering [0, N) once, a
    float `k` in [0, 1] (and in `k_bounds`, when given, as SMOOT's clipping leaves it)."""
    path = Path(path)
    try:
        table = pq.read_table(path, columns=["index", "k"])
    except FileNotFoundError:
        raise UserError(f"mask state {path} does not exist; pass the path of a saved state") from None
    except (pa.ArrowException, OSError, KeyError) as err:
        raise UserError(f"mask state {path} is not a valid Parquet table with columns index, k "
                        f"({str(err).splitlines()[0][:200]})") from None
    index_type, k_type = table.schema.field("index").type, table.schema.field("k").type
    if not pa.types.is_integer(index_type) or not pa.types.is_floating(k_type):
        raise UserError(f"mask state {path} has columns index: {index_type}, k: {k_type}; "
                        f"expected an integer index and a float k")
    if table.column("index").null_count or table.column("k").null_count:
        raise UserError(f"mask state {path} has empty (null) values")
    try:
        k = global_k([table], num_samples)
    except ValueError as err:
        raise UserError(f"mask state {path} does not fit this run: {err}") from None
    if not torch.isfinite(k).all() or (k < 0).any() or (k > 1).any():
        raise UserError(f"mask state {path} holds k values outside [0, 1]")
    if k_bounds is not None:
        # Compared in float32, the precision SMOOT's clamp writes the bounds in.
        lo, hi = (torch.tensor(b, dtype=torch.float32) for b in k_bounds)
        if (k < lo).any() or (k > hi).any():
            raise UserError(f"mask state {path} holds k values outside [k_min, k_max] = "
                            f"[{k_bounds[0]}, {k_bounds[1]}] (from {float(k.min()):.4g} to "
                            f"{float(k.max()):.4g})")
    return k
