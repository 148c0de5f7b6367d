"""The description a Parquet dataset carries in its `_common_metadata`, checked whole when it is
read: a hand-edited or damaged one is refused with one line naming the field, instead of a
traceback (or a 30 TiB allocation) later."""

from __future__ import annotations

import math
from typing import Any

from ..foundations.errors import DataError

FORMAT_VERSION = 1
MAX_IMAGE_SIZE = 4096  # pixels a side: far beyond any dataset this tool trains at (ImageNet: 224)
SPLIT_NAMES = ("train", "test")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _numbers(value: Any, count: int) -> bool:
    return (isinstance(value, list) and len(value) == count
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    for v in value))


def _problem(d: dict[str, Any]) -> str | None:
    """What is wrong with a description, in words; None if nothing."""
    missing = [k for k in ("version", "classes", "image_size", "channels", "mean", "std",
                           "rows_per_shard", "splits") if k not in d]
    if missing:
        return f"it has no {', '.join(missing)}"
    if not _is_int(d["version"]) or not 1 <= d["version"] <= FORMAT_VERSION:
        return f"version {d['version']!r} is not one this smoot_dist reads (1..{FORMAT_VERSION})"
    classes = d["classes"]
    if (not isinstance(classes, list) or len(classes) < 2
            or not all(isinstance(c, str) for c in classes) or len(set(classes)) != len(classes)):
        return "classes must be a list of at least two distinct names"
    if not _is_int(d["image_size"]) or not 1 <= d["image_size"] <= MAX_IMAGE_SIZE:
        return f"image_size must be a whole number of pixels in [1, {MAX_IMAGE_SIZE}], got {d['image_size']!r}"
    if d["channels"] not in (1, 3) or not _is_int(d["channels"]):
        return f"channels must be 1 or 3, got {d['channels']!r}"
    c = d["channels"]
    if not _numbers(d["mean"], c) or not all(0 <= m <= 1 for m in d["mean"]):
        return f"mean must be {c} number(s) in [0, 1], one per channel"
    if not _numbers(d["std"], c) or not all(0 < s <= 1 for s in d["std"]):
        return (f"std must be {c} number(s) in (0, 1], one per channel (a std of 0 would divide "
                f"every pixel by zero)")
    block = d["rows_per_shard"]
    if not _is_int(block) or block < 1:
        return f"rows_per_shard must be a positive whole number, got {block!r}"
    splits = d["splits"]
    if not isinstance(splits, dict) or sorted(splits) != sorted(SPLIT_NAMES):
        return "splits must describe exactly a train and a test split"
    for name in SPLIT_NAMES:
        split = splits[name]
        if not isinstance(split, dict) or not _is_int(split.get("rows")) or split["rows"] < 1:
            return f"splits.{name}.rows must be a positive whole number"
        if split.get("shards") != -(-split["rows"] // block):
            return (f"splits.{name}.shards must be {-(-split['rows'] // block)} for "
                    f"{split['rows']} rows of {block} per shard, got {split.get('shards')!r}")
    return None


def check_description(description: Any, path: str) -> dict[str, Any]:
    """`description` if it is a whole, consistent description; else one DataError line."""
    if not isinstance(description, dict):
        raise DataError(f"{path} is not a smoot_dist dataset description (not a JSON object); "
                        f"prepare the dataset again")
    problem = _problem(description)
    if problem:
        raise DataError(f"{path} is not a valid dataset description ({problem[:200]}); prepare "
                        f"the dataset again with jobs/prepare_data.py")
    return description
