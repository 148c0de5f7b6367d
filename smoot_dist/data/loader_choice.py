"""Which data path a run's train split takes: whole in every worker's memory, or streamed."""

from __future__ import annotations

from ..config import DataConfig
from ..foundations.catalog import parse_dataset

# A decoded train split above this is streamed under `--data-loader auto`: every worker would
# otherwise hold a copy (ImageNet at 224 x 224: 193 GB; CIFAR-10: 150 MB).
MEMORY_LIMIT_BYTES = 4 * 2**30


def choose_loader(data: DataConfig, workers: int) -> str:
    """'memory' or 'stream'."""
    if data.loader != "auto":
        return data.loader
    kind, location = parse_dataset(data.dataset)
    if (kind != "parquet" or workers == 0 or data.train_subset is not None
            or data.val_images is not None):  # subsets and held-out images need it in memory
        return "memory"
    from .parquet_shards import describe

    d = describe(location)
    decoded = d["splits"]["train"]["rows"] * d["channels"] * d["image_size"] ** 2
    return "stream" if decoded > MEMORY_LIMIT_BYTES else "memory"
