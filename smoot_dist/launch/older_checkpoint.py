"""A damaged latest checkpoint at the storage path, seen from a Ray Train worker: kept aside
there as evidence, and the newest intact checkpoint before it found instead.

Ray Train hands a restarted worker only its latest checkpoint. On local storage the driver has
already looked at every checkpoint of the run folder (the newest intact one is its
`resume_from`); on remote storage it has none to look at, so a damaged latest one would fail its
check on every restart, and Ray would in time prune it (`num_to_keep`). Here the worker copies
it to `<name>.damaged` beside it (Ray never prunes what it does not know) and lists the other
checkpoints there.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pyarrow.fs

from ..foundations.errors import UserError
from ..runs.folder import DAMAGED_SUFFIX, is_checkpoint_name
from ..training.checkpoint import DamagedCheckpoint, load_checkpoint, newest_intact


def damage_of(folder: str | Path, checks: dict[str, Any]) -> str | None:
    """Why the checkpoint in `folder` cannot be resumed from, or None when it is intact."""
    try:
        load_checkpoint(folder, **checks)
    except DamagedCheckpoint as err:
        return err.reason
    return None


def keep_aside(fs: pyarrow.fs.FileSystem, path: str) -> str:
    """Copy the checkpoint at `path` to `<path>.damaged` (once: a later restart finds it there)."""
    aside = path + DAMAGED_SUFFIX
    if fs.get_file_info(aside).type == pyarrow.fs.FileType.NotFound:
        pyarrow.fs.copy_files(path, aside, source_filesystem=fs, destination_filesystem=fs)
    return aside


@contextlib.contextmanager
def older_intact(fs: pyarrow.fs.FileSystem, path: str, reason: str, checks: dict[str, Any],
                 keep: bool) -> Iterator[tuple[Path, str]]:
    """(a local copy of the newest intact checkpoint beside the damaged one at `path`, the
    warning to print). `keep`: this worker keeps the damaged ones aside (rank 0 only, so that
    two workers never copy the same one). With no intact one there, one line says so."""
    path = path.rstrip("/")
    parent, name = path.rsplit("/", 1)
    others = sorted(i.base_name for i in fs.get_file_info(pyarrow.fs.FileSelector(parent))
                    if i.type == pyarrow.fs.FileType.Directory and i.base_name != name
                    and is_checkpoint_name(i.base_name))
    aside = keep_aside(fs, path) if keep else path + DAMAGED_SUFFIX
    with tempfile.TemporaryDirectory(prefix="smoot-resume-") as tmp:
        copies = []
        for other in others:
            copies.append(Path(tmp, other))
            copies[-1].mkdir()  # pyarrow copies a folder's files, not the folder
            pyarrow.fs.copy_files(f"{parent}/{other}", str(copies[-1]), source_filesystem=fs,
                                  destination_filesystem=pyarrow.fs.LocalFileSystem())
        try:
            point = newest_intact(copies, **checks)
        except UserError:  # every one of them is damaged too
            point = None
        if point is None or point.folder is None:
            raise UserError(f"checkpoint {name} of the run at the storage path is damaged "
                            f"({reason}), and there is no older intact one there; it is kept as "
                            f"{aside}: choose another --run-name to train the run from the start")
        for err in point.damaged if keep else ():
            keep_aside(fs, f"{parent}/{err.folder.name}")
        yield point.folder, (f"warning: skipping damaged checkpoint {name} ({reason}); kept as "
                             f"{aside}; resuming from {point.folder.name} "
                             f"(epoch {point.epochs})")
