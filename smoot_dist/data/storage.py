"""A dataset's location, a local folder or a URI (s3://...), as a pyarrow file system."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.fs

from ..foundations.errors import DataError
from ..foundations.uris import without_credentials


def filesystem(location: str) -> tuple[pyarrow.fs.FileSystem, str]:
    """(file system, path) of a local folder or a URI."""
    if "://" in location:
        try:
            return pyarrow.fs.FileSystem.from_uri(location)
        except (pa.ArrowInvalid, OSError) as err:
            raise DataError(f"cannot open {without_credentials(location)} ({str(err).splitlines()[0][:200]})") from None
    return pyarrow.fs.LocalFileSystem(), str(Path(location).expanduser().resolve())


def is_local(fs: pyarrow.fs.FileSystem) -> bool:
    """Whether `fs` is this machine's own disk (a rename there is atomic, a path is a folder)."""
    return isinstance(fs, pyarrow.fs.LocalFileSystem)
