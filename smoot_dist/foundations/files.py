"""Small files written atomically and durably (a crash leaves the old file or the new one,
never half of one), file locks, and a full or read-only disk told as one line."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import IO, Any, Iterator

from .errors import UserError

# errnos that mean "this disk cannot take the file", whatever wrote it
DISK_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
               errno.EROFS: "the file system is read-only", errno.EFBIG: "the file is too large"}


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fsync(path: str | os.PathLike) -> None:
    """Flush a file's data, or a folder's entries (a rename in it), to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `path` through a temporary sibling, flushed, then renamed over it; a failure
    (a full disk) removes the temporary file and leaves the old `path` as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
        fsync(tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, data: Any) -> Path:
    return write_text(path, json.dumps(data, indent=2) + "\n")


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, wait: bool = True) -> Iterator[IO[str]]:
    """Hold an exclusive lock on `path` (created if missing) for the block; yields the open file.

    The operating system releases the lock when its process ends, however it ends, so a lock
    left by a dead process never blocks anyone. With `wait=False`, a lock held by another
    process raises BlockingIOError at once. Advisory (flock): only code that asks respects it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        try:
            yield f
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def disk_problem(err: BaseException) -> str | None:
    """What a failed write means for the disk, in words; None if it is not a disk problem.
    torch.save reports a full disk as a RuntimeError of its zip writer, not an OSError."""
    if isinstance(err, OSError) and err.errno in DISK_ERRNOS:
        return DISK_ERRNOS[err.errno]
    text = str(err)
    if isinstance(err, RuntimeError) and ("PytorchStreamWriter" in text or "inline_container" in text):
        return "the disk did not take the file"
    return None


FULL_BELOW_BYTES = 16 * 2**20  # a write that failed with less than this left: the disk is full


def existing_folder(path: str | os.PathLike) -> Path:
    """`path`, or its nearest ancestor that exists."""
    existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return existing


def free_space(path: str | os.PathLike) -> str:
    """'<free> free of <total>' on the disk holding `path` (its nearest existing folder)."""
    usage = shutil.disk_usage(existing_folder(path))
    return f"{_size(usage.free)} free of {_size(usage.total)}"


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


@contextlib.contextmanager
def disk_errors(folder: str | os.PathLike, what: str, kept: str = "") -> Iterator[None]:
    """A write that fails for want of disk becomes one UserError line: which folder, what
    could not be written, the free space, and what was kept."""
    try:
        yield
    except (OSError, RuntimeError) as err:
        problem = disk_problem(err)
        if problem is None:
            raise
        if shutil.disk_usage(existing_folder(folder)).free < FULL_BELOW_BYTES:
            problem = DISK_ERRNOS[errno.ENOSPC]
        raise UserError(f"{what} could not be written in {folder}: {problem} ({free_space(folder)})"
                        f"{'; ' + kept if kept else ''}; free some space and run the same command "
                        f"again") from None


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


class StagedFolder:
    """A job's output folder, filled under a temporary sibling (`.<name>.partial-<pid>`) and
    renamed into place only when complete: the user's folder is never half-written, and a file
    the job did not write is never replaced (the final folder must be new, or empty).

        with StagedFolder(out, "--output-dir") as staged:   # checked here, before the work
            ... write into staged.staging ...
            staged.publish()          # an error before this drops the staging folder
    """

    def __init__(self, final: Path, flag: str, inputs: tuple[Path, ...] = ()):
        """Check that `final` can become this job's folder, before any work is done: not an
        input, nor inside one; new or empty; its parent writable (the staging folder is made
        now, so a folder that cannot be written is one line, not a traceback after the work)."""
        self.final = Path(final).expanduser().absolute()
        shown = f"{flag} {final}"
        for given in inputs:  # folders given as input: the output never goes in one
            source = Path(given).expanduser().resolve()
            if source.is_dir() and _inside(self.final.resolve(), source):
                where = "is" if self.final.resolve() == source else "is inside"
                raise UserError(f"{shown} {where} the input folder {given}; give an output "
                                f"folder outside the images")
        if self.final.exists() and not self.final.is_dir():
            raise UserError(f"{shown} is a file, not a folder; give a new folder")
        if self.final.is_dir() and any(self.final.iterdir()):
            raise UserError(f"{shown} already holds files, which this job never writes over; "
                            f"give a new (or empty) folder")
        above = existing_folder(self.final.parent)
        if not above.is_dir():
            raise UserError(f"{shown} is under {above}, which is a file; give a folder")
        self.staging = self.final.with_name(f".{self.final.name}.partial-{os.getpid()}")
        self.kept = False  # publish() found the final folder filled: the staged results stay
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self.staging.mkdir()
        except OSError as err:
            why = DISK_ERRNOS.get(err.errno) or os.strerror(err.errno or 0).lower()
            raise UserError(f"{shown} cannot be written ({why}: {err.filename}); give a folder "
                            f"you can write") from None

    def publish(self) -> Path:
        """The staged files, renamed into the final folder (which must still be new or empty)."""
        try:
            os.rename(self.staging, self.final)  # replaces an empty folder, never a full one
        except OSError as err:
            self.kept = True
            raise UserError(f"{self.final} was filled by something else meanwhile "
                            f"({os.strerror(err.errno or 0).lower()}); the results are kept in "
                            f"{self.staging}") from None
        fsync(self.final.parent)
        return self.final

    def __enter__(self) -> "StagedFolder":
        return self

    def __exit__(self, kind, err, tb) -> None:
        """The job failed before it published: what it staged is dropped (unless publish()
        kept it, naming it in its error)."""
        if kind is not None and not self.kept:
            shutil.rmtree(self.staging, ignore_errors=True)
