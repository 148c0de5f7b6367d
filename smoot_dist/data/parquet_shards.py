"""A user's image dataset as Parquet shards: what `jobs/prepare_data.py imagefolder:PATH --to OUT`
writes and `--dataset parquet:OUT` reads, in a local folder or at a URI (s3://...), through
pyarrow's file systems alike.

    OUT/train/part-00000.parquet ...   columns index (int64), label (int64), image (PNG bytes)
    OUT/test/part-00000.parquet ...
    OUT/_common_metadata               written last: the dataset's description (classes, image
                                       size, channels, per-channel mean/std of the train split,
                                       rows and shards per split) under the key `smoot_dist`

Shard f of a split holds the contiguous global indices [f * rows_per_shard, (f + 1) *
rows_per_shard), in the image folder's sorted relative-path order, so the shard of a sample is a
function of its index. Every shard carries the dataset's classes and its own place in its
Parquet metadata too.
"""

from __future__ import annotations

import io
import json
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs
import pyarrow.parquet as pq

from ..foundations.errors import DataError
from . import image_folder
from .dataset_target import (COMMON_METADATA, META_KEY, SPLITS, check_target, discard,
                             staging_location, swap_in)
from .description import FORMAT_VERSION, check_description
from .storage import filesystem

SCHEMA = pa.schema([("index", pa.int64()), ("label", pa.int64()), ("image", pa.binary())])


# -- writing ------------------------------------------------------------------------------------
def _encode_png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)).save(
        buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _write_shard(task: dict[str, Any]) -> np.ndarray:
    """Decode, convert and encode one shard's images and write it; returns its pixel sums."""
    images = image_folder.read_images(task["files"], task["channels"], task["size"])
    n = len(task["files"])
    table = pa.table({"index": pa.array(np.arange(task["first"], task["first"] + n), pa.int64()),
                      "label": pa.array(task["labels"], pa.int64()),
                      "image": pa.array([_encode_png(im) for im in images], pa.binary())},
                     schema=SCHEMA.with_metadata({META_KEY: json.dumps(task["meta"])}))
    fs, base = filesystem(task["out"])
    path = f"{base}/{task['split']}/part-{task['shard']:05d}.parquet"
    pq.write_table(table, path, filesystem=fs)
    return image_folder.pixel_sums(images)


def _map(fn, items: list, jobs: int) -> list:
    if jobs == 1 or len(items) <= 1:
        return [fn(item) for item in items]
    # spawn: the workers start clean, whatever threads this process has started
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        return list(pool.map(fn, items))


def write_dataset(layout: image_folder.FolderLayout, out: str, channels: int | None,
                  size: int | None, rows_per_shard: int, jobs: int = 0,
                  force: bool = False) -> dict[str, Any]:
    """Convert an image folder (scanned) into Parquet shards at `out`; returns the description.
    Written into a temporary sibling and swapped in when complete (data/dataset_target.py), so
    a failure at any point leaves `out` as it was."""
    check_target(layout.root, out, force)
    staging = staging_location(out)
    try:
        description = _write_shards(layout, staging, channels, size, rows_per_shard,
                                    jobs or os.cpu_count() or 1)
        swap_in(staging, out)
    except BaseException:
        discard(staging)
        raise
    return description


def _write_shards(layout: image_folder.FolderLayout, out: str, channels: int | None,
                  size: int | None, rows_per_shard: int, jobs: int) -> dict[str, Any]:
    fs, base = filesystem(out)
    for split in SPLITS:
        fs.create_dir(f"{base}/{split}", recursive=True)
    files = list(layout.train.files + layout.test.files)
    probes = None if channels is not None and size is not None else _map(image_folder.probe, files, jobs)
    channels, size = image_folder.decide_format(files, channels, size, probes)
    splits = {"train": layout.train, "test": layout.test}
    tasks = []
    for split, images in splits.items():
        shards = -(-len(images.files) // rows_per_shard)
        for shard in range(shards):
            lo, hi = shard * rows_per_shard, min((shard + 1) * rows_per_shard, len(images.files))
            tasks.append({"files": images.files[lo:hi], "labels": list(images.labels[lo:hi]),
                          "first": lo, "split": split, "shard": shard, "out": out,
                          "channels": channels, "size": size,
                          "meta": {"classes": list(layout.classes), "image_size": size,
                                   "channels": channels, "split": split, "shard": shard,
                                   "shards": shards, "first_index": lo, "rows": hi - lo}})
    sums = _map(_write_shard, tasks, jobs)
    train_sums = sum(s for s, t in zip(sums, tasks) if t["split"] == "train")
    mean, std = image_folder.moments(train_sums)
    description = {"version": FORMAT_VERSION, "classes": list(layout.classes), "image_size": size,
                   "channels": channels, "mean": list(mean), "std": list(std),
                   "rows_per_shard": rows_per_shard,
                   "splits": {split: {"rows": len(images.files),
                                      "shards": -(-len(images.files) // rows_per_shard)}
                              for split, images in splits.items()}}
    with fs.open_output_stream(f"{base}/{COMMON_METADATA}") as sink:
        pq.write_metadata(SCHEMA.with_metadata({META_KEY: json.dumps(description)}), sink)
    return description


# -- reading ------------------------------------------------------------------------------------
def describe(location: str) -> dict[str, Any]:
    """The dataset's description from its _common_metadata."""
    fs, base = filesystem(location)
    path = f"{base}/{COMMON_METADATA}"
    try:
        with fs.open_input_file(path) as f:
            meta = pq.read_schema(f).metadata or {}
        description = json.loads(meta[META_KEY])
    except FileNotFoundError:
        raise DataError(f"{location} holds no prepared dataset ({COMMON_METADATA} is missing); "
                        f"make one with `python jobs/prepare_data.py imagefolder:PATH --to "
                        f"{location}`") from None
    except (OSError, pa.ArrowException, KeyError, ValueError) as err:
        raise DataError(f"{path} is not a smoot_dist dataset description ({type(err).__name__}); "
                        f"prepare the dataset again") from None
    return check_description(description, path)


def shard_paths(location: str, split: str) -> list[str]:
    """The split's shard files, in shard order."""
    fs, base = filesystem(location)
    infos = fs.get_file_info(pyarrow.fs.FileSelector(f"{base}/{split}", allow_not_found=True))
    return sorted(i.path for i in infos if i.path.endswith(".parquet"))


def check_split(location: str, split: str, description: dict[str, Any]) -> int:
    """A split's shard files as the description promises them, from their footers alone (no
    image is read): the shard count, and shard f holding the rows_per_shard indices from
    f * rows_per_shard. Returns the split's row count."""
    fs, _base = filesystem(location)
    want, block = description["splits"][split], description["rows_per_shard"]
    paths = shard_paths(location, split)
    if len(paths) != want["shards"]:
        raise DataError(f"{location}/{split} has {len(paths)} shard files, its description says "
                        f"{want['shards']}; prepare the dataset again")
    for f, path in enumerate(paths):
        try:
            with fs.open_input_file(path) as source:
                footer = pq.read_metadata(source)
            meta = json.loads((footer.metadata or {})[META_KEY])
        except (OSError, pa.ArrowException, KeyError, ValueError) as err:
            raise DataError(f"shard {path} cannot be read ({type(err).__name__}: "
                            f"{str(err).splitlines()[0][:120] if str(err) else ''}); prepare the "
                            f"dataset again") from None
        rows = min(block, want["rows"] - f * block)
        if (meta.get("first_index"), footer.num_rows) != (f * block, rows):
            raise DataError(f"shard {path} holds {footer.num_rows} rows from index "
                            f"{meta.get('first_index')}, not {rows} from {f * block}; prepare the "
                            f"dataset again")
    return want["rows"]


def decode_png(data: bytes, channels: int) -> np.ndarray:
    """PNG bytes -> uint8 (C, H, W)."""
    import torch
    from torchvision.io import ImageReadMode, decode_png as tv_decode

    mode = ImageReadMode.GRAY if channels == 1 else ImageReadMode.RGB
    return tv_decode(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=mode).numpy()


def _fits_in_memory(nbytes: int, what: str) -> None:
    """Refuse to decode a split that cannot fit in this machine's memory (instead of an
    allocation that fails, or swaps, much later)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if nbytes > total:
        raise DataError(f"{what} decoded is {nbytes / 2**30:.1f} GiB, more than this machine's "
                        f"{total / 2**30:.1f} GiB of memory; stream it on Ray workers "
                        f"(--data-loader stream) or prepare it at a smaller --image-size")


def read_split(location: str, split: str, description: dict[str, Any]
               ) -> tuple[np.ndarray, np.ndarray]:
    """All images (N, C, H, W uint8) and labels (N,) of a split, in global-index order, checked:
    every index of [0, N) once, labels within the classes, images of the described shape."""
    fs, _base = filesystem(location)
    want = description["splits"][split]["rows"]
    paths = shard_paths(location, split)
    if not paths:
        raise DataError(f"{location}/{split} has no shards; prepare the dataset again")
    try:
        table = pa.concat_tables(pq.read_table(p, filesystem=fs, columns=["index", "label", "image"])
                                 for p in paths)
    except (OSError, pa.ArrowException) as err:
        raise DataError(f"a shard of {location}/{split} cannot be read "
                        f"({str(err).splitlines()[0][:160]}); prepare the dataset again") from None
    nulls = [name for name in SCHEMA.names if table.column(name).null_count]
    if nulls or table.schema.remove_metadata() != SCHEMA:
        problem = f"null values in column {nulls[0]}" if nulls else f"columns {table.schema.types}"
        raise DataError(f"{location}/{split} has {problem}, not the index/label/image columns "
                        f"smoot_dist writes; prepare the dataset again")
    index = table.column("index").to_numpy()
    if table.num_rows != want or not np.array_equal(np.sort(index), np.arange(want)):
        raise DataError(f"{location}/{split} holds {table.num_rows} rows, not the indices 0..{want - 1} "
                        f"its description promises; prepare the dataset again")
    order = np.argsort(index, kind="stable")
    labels = table.column("label").to_numpy()[order]
    if labels.min() < 0 or labels.max() >= len(description["classes"]):
        raise DataError(f"{location}/{split} has labels outside its {len(description['classes'])} "
                        f"classes; prepare the dataset again")
    channels, size = description["channels"], description["image_size"]
    _fits_in_memory(want * channels * size * size, f"{location}/{split}")
    blobs = table.column("image").to_pylist()
    images = np.empty((want, channels, size, size), dtype=np.uint8)
    for row, source in enumerate(order):
        try:
            images[row] = decode_png(blobs[source], channels)
        except (RuntimeError, ValueError) as err:
            raise DataError(f"image {int(index[source])} of {location}/{split} cannot be decoded "
                            f"({type(err).__name__}); prepare the dataset again") from None
    return images, labels.astype(np.int64)
