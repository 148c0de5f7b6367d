"""The streaming data path, in each Ray Train worker: the rank's own Parquet shard files read and
decoded by Ray Data tasks, handed to the Trainer as batches (training/batches.py).

Why not Ray Train's `datasets=` with `streaming_split`: it hands blocks to whichever worker asks
first, so a sample's rank would change from epoch to epoch, and its k with it. Here ownership
is the index's: shard f (contiguous indices) belongs to rank f mod W, each worker reads only its
files (1/W of the bytes, however large W grows), in a per-epoch order from (seed, epoch, rank),
and a bounded shuffle buffer mixes rows across the files it holds. Decoding runs in Ray Data
tasks on any node with CPUs, so CPU-only nodes can feed GPU workers; images travel as uint8
(4x fewer bytes than float) and are normalised on the device by the Trainer.
"""

from __future__ import annotations

import logging
from typing import Iterator

import numpy as np
import torch

from ..config import JobConfig
from ..data import parquet_shards
from ..foundations.catalog import parse_dataset
from ..data.sharding import mix_seed
from ..training.batches import Batch, planned_sizes, shuffled_batches, stream_seed


def decode_block(batch: dict[str, np.ndarray], channels: int) -> dict[str, np.ndarray]:
    """A Ray Data batch of PNG bytes -> uint8 images (B, C, H, W), with index and label."""
    images = np.stack([parquet_shards.decode_png(b, channels) for b in batch["image"]])
    return {"index": batch["index"].astype(np.int64), "label": batch["label"].astype(np.int64),
            "image": images}


class StreamBatches:
    """This rank's training batches, streamed from its Parquet shard files by Ray Data."""

    def __init__(self, cfg: JobConfig, rank: int, world_size: int, device: torch.device):
        _, location = parse_dataset(cfg.data.dataset)
        self.description = parquet_shards.describe(location)
        train = self.description["splits"]["train"]
        self.num_samples = train["rows"]
        self.block = self.description["rows_per_shard"]  # shard f holds [f * block, (f + 1) * block)
        paths = parquet_shards.shard_paths(location, "train")
        self.own_files = paths[rank::world_size]
        self.filesystem, _ = parquet_shards.filesystem(location)
        self.cfg, self.rank, self.world_size, self.device = cfg, rank, world_size, device
        self.sizes = planned_sizes(self.num_samples, rank, world_size, cfg.train.batch_size, self.block)

    def steps(self) -> int:
        return len(self.sizes)

    def _blocks(self, epoch: int) -> Iterator[Batch]:
        import ray.data

        data, seed = self.cfg.data, self.cfg.train.seed
        gen = torch.Generator().manual_seed(mix_seed(seed, epoch, self.rank, 3))
        files = [self.own_files[i] for i in torch.randperm(len(self.own_files), generator=gen)]
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # blocks in file order: a deterministic stream
        # The epoch line says what an epoch did; Ray Data's own start/finish lines per dataset
        # (one per epoch and worker) stay in its log files.
        ctx.enable_progress_bars = ctx.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        ds = ray.data.read_parquet(files, filesystem=self.filesystem,
                                   columns=["index", "label", "image"], num_cpus=data.data_cpus,
                                   override_num_blocks=len(files))
        ds = ds.map_batches(decode_block, fn_kwargs={"channels": self.description["channels"]},
                            batch_format="numpy", batch_size=None, num_cpus=data.data_cpus)
        for batch in ds.iter_torch_batches(batch_size=None, prefetch_batches=2, device=self.device):
            yield batch["index"], batch["image"], batch["label"]

    def epoch(self, epoch: int) -> Iterator[Batch]:
        return shuffled_batches(self._blocks(epoch), list(self.sizes), self.cfg.data.shuffle_buffer,
                                stream_seed(self.cfg.train.seed, epoch, self.rank))

