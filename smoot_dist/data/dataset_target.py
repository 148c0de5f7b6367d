"""Where `prepare_data.py imagefolder:PATH --to OUT` may write, and how: nothing the user made is
ever deleted or overwritten.

- OUT must not be, contain or lie inside the image folder being converted.
- OUT is new, empty, or a dataset this tool wrote (recognised by its `_common_metadata`, and
  holding nothing but the files the tool writes); replacing one needs --force.
- The new dataset is written into a temporary sibling folder (`OUT.partial-<pid>`) and swapped
  in only when it is complete: a bad image, a full disk or a kill leaves OUT as it was.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pyarrow.fs
import pyarrow.parquet as pq

from ..foundations.errors import DataError
from ..foundations.uris import without_credentials
from .storage import filesystem, is_local

COMMON_METADATA = "_common_metadata"
META_KEY = b"smoot_dist"
SPLITS = ("train", "test")
SHARD_NAME = re.compile(r"part-\d{5}\.parquet")
STAGING_SUFFIX = ".partial-"


def _entries(fs: pyarrow.fs.FileSystem, base: str) -> list[pyarrow.fs.FileInfo]:
    return fs.get_file_info(pyarrow.fs.FileSelector(base, recursive=True, allow_not_found=True))


def _foreign(fs: pyarrow.fs.FileSystem, base: str) -> str | None:
    """The first entry under `base` this tool does not write (None: all of them are ours)."""
    for info in _entries(fs, base):
        rel = info.path[len(base):].lstrip("/")
        parts = rel.split("/")
        ours = (rel == COMMON_METADATA or (len(parts) == 1 and parts[0] in SPLITS)
                or (len(parts) == 2 and parts[0] in SPLITS and SHARD_NAME.fullmatch(parts[1])))
        if not ours:
            return info.path
    return None


def _holds_our_description(fs: pyarrow.fs.FileSystem, base: str) -> bool:
    try:
        with fs.open_input_file(f"{base}/{COMMON_METADATA}") as f:
            return META_KEY in (pq.read_schema(f).metadata or {})
    except Exception:  # missing, not Parquet, unreadable: not a description of ours
        return False


def _overlap(source: Path, target: Path) -> str | None:
    source, target = source.resolve(), target.resolve()
    if target == source:
        return "is"
    if source in target.parents:
        return "lies inside"
    if target in source.parents:
        return "contains"
    return None


def check_target(source: Path, out: str, force: bool) -> tuple[pyarrow.fs.FileSystem, str]:
    """(file system, path) of OUT once it is safe to prepare a dataset there; else one DataError
    line, before anything is read or written."""
    fs, base = filesystem(out)
    shown = without_credentials(out)  # a URI's user and password are never printed
    if is_local(fs):
        how = _overlap(source, Path(base))
        if how:
            raise DataError(f"--to {shown} {how} the image folder being converted ({source}); "
                            f"choose a folder outside it")
    info = fs.get_file_info(base)
    if info.type == pyarrow.fs.FileType.NotFound:
        return fs, base
    if info.type != pyarrow.fs.FileType.Directory:
        raise DataError(f"--to {shown} is a file, not a folder; choose a new or empty folder")
    if not _entries(fs, base):
        return fs, base
    if not _holds_our_description(fs, base):
        entries = _entries(fs, base)
        first = next((i.path for i in entries if i.type == pyarrow.fs.FileType.File), entries[0].path)
        raise DataError(f"--to {shown} is not empty and holds no dataset prepared by smoot_dist "
                        f"(it has {first}); nothing was written: choose a new or empty folder")
    foreign = _foreign(fs, base)
    if foreign:
        raise DataError(f"--to {shown} holds a prepared dataset and files smoot_dist did not write "
                        f"({foreign}); nothing was written: move them away, or choose another --to")
    if not force:
        raise DataError(f"{shown} already holds a prepared dataset; pass --force to replace it, "
                        f"or choose another --to")
    return fs, base


def staging_location(out: str) -> str:
    """The temporary sibling the new dataset is written into (same file system as OUT)."""
    suffix = f"{STAGING_SUFFIX}{os.getpid()}"
    if "://" in out:  # on the URI's path: its query (endpoint_override=...) stays the query
        parts = urlsplit(out)
        return urlunsplit(parts._replace(path=parts.path.rstrip("/") + suffix))
    return filesystem(out)[1] + suffix


def discard(location: str) -> None:
    """Remove a staging folder this process wrote (after a failure)."""
    fs, base = filesystem(location)
    if STAGING_SUFFIX not in base:  # only ever our own temporary sibling
        return
    try:
        fs.delete_dir(base)
    except (OSError, FileNotFoundError):
        pass


def swap_in(staging: str, out: str) -> None:
    """Make the complete dataset at `staging` the one at OUT, replacing the tool's own earlier
    dataset there (check_target made sure OUT holds nothing else)."""
    fs, staged = filesystem(staging)
    _fs, base = filesystem(out)
    if is_local(fs):
        target, old = Path(base), Path(f"{base}.replaced-{os.getpid()}")
        if target.exists():
            target.rename(old)  # the earlier dataset, ours (checked), out of the way at once
        Path(staged).rename(target)
        shutil.rmtree(old, ignore_errors=True)
        return
    # Object stores have no atomic folder rename: the old description goes first (a crash in
    # between leaves no dataset claiming shards it lacks), the new description last.
    old = [i.path for i in _entries(fs, base) if i.type == pyarrow.fs.FileType.File]
    for path in sorted(old, key=lambda p: not p.endswith(COMMON_METADATA)):
        fs.delete_file(path)
    new = [i.path for i in _entries(fs, staged) if i.type == pyarrow.fs.FileType.File]
    for path in sorted(new, key=lambda p: p.endswith(COMMON_METADATA)):
        fs.move(path, base + path[len(staged):])
    discard(staging)
