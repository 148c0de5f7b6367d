"""A runs root on remote storage (`--storage-path s3://bucket/runs?endpoint_override=...`, or
any URI pyarrow.fs opens): where each run's folder lives when the nodes of a cluster share no
disk. The run folder a job works in is a local cache of `<root>/<run name>/`: every file the
job writes there (run.json, config.yaml, summary.json, model.pt, mask_state.parquet, the K
histogram, evaluation/<protocol>/...) is published to the same key as soon as it is complete,
and a job on another machine (another SMOOT_HOME, nothing local) fetches the run's files into
its own cache before it reads them. Ray Train keeps the checkpoints under the same prefix itself
(`checkpoint_<time>/`): they are neither fetched nor published here.

Publishing: an object store makes an object visible only when its upload has completed, so a
killed upload leaves the previous object (or none), never half of one: the same guarantee as the
write-then-rename of a local file. The objects under a run's prefix are the tool's own; a new
run refuses a prefix that already holds objects (runs/folder.locate_run)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs

from ..data.storage import filesystem
from ..foundations.errors import UserError
from ..foundations.files import write_bytes
from ..foundations.home import smoot_home
from ..foundations.uris import without_credentials

CACHE_DIR = "remote"  # $SMOOT_HOME/remote/<scheme>/<bucket/prefix>-<hash>/<run name>/
NOT_MIRRORED_PREFIXES = ("checkpoint",)  # Ray Train's, under the same prefix; read by Ray
NOT_MIRRORED_NAMES = ("run.lock",  # this machine's lock on its cache folder
                      ".validate_storage_marker")  # Ray Train's probe of the storage
NOT_MIRRORED_SUFFIXES = (".tmp",)  # a local write in progress


def mirrored(rel: str) -> bool:
    """Whether a file of the run folder (its path relative to the folder) lives remotely too."""
    first, name = rel.split("/", 1)[0], rel.rsplit("/", 1)[-1]
    return not (first.startswith(NOT_MIRRORED_PREFIXES) or name in NOT_MIRRORED_NAMES
                or name.endswith(NOT_MIRRORED_SUFFIXES))


def _storage_error(what: str, uri: str, err: BaseException) -> UserError:
    reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
    return UserError(f"{what} at --storage-path {without_credentials(uri)} failed ({reason}); "
                     f"check the storage (its server, the bucket, the credentials) and run the same "
                     f"command again: nothing local is lost")


class RemoteRuns:
    """The run folders under one remote storage path."""

    def __init__(self, uri: str):
        self.uri = uri
        try:
            self.fs, self.base = filesystem(uri)
        except UserError as err:  # the message shows the URI without its credentials
            raise UserError(f"--storage-path: {err}") from None
        self.base = self.base.rstrip("/")
        parsed = urlparse(uri)
        digest = hashlib.sha256(without_credentials(uri).encode()).hexdigest()[:8]
        # one cache per storage path: the same run name under two roots never meets
        self.cache_root = (smoot_home() / CACHE_DIR / (parsed.scheme or "uri")
                           / f"{self.base.replace('/', '_')}-{digest}")

    def key(self, name: str, rel: str = "") -> str:
        return f"{self.base}/{name}" + (f"/{rel}" if rel else "")

    def cache_folder(self, name: str) -> Path:
        return self.cache_root / name

    # -- listing --------------------------------------------------------------------------
    def _files(self, name: str) -> dict[str, pyarrow.fs.FileInfo]:
        """The run's mirrored objects by path relative to its prefix (none: {})."""
        prefix = self.key(name)
        selector = pyarrow.fs.FileSelector(prefix, recursive=True, allow_not_found=True)
        try:
            infos = self.fs.get_file_info(selector)
        except (OSError, pa.ArrowException) as err:
            raise _storage_error(f"listing {name}/", self.uri, err) from None
        files = {}
        for info in infos:
            if info.type == pyarrow.fs.FileType.File:
                rel = info.path[len(prefix) + 1:]
                if mirrored(rel):
                    files[rel] = info
        return files

    def holds(self, name: str) -> bool:
        """Whether any object lives under the run's prefix (its record, or Ray's checkpoints)."""
        selector = pyarrow.fs.FileSelector(self.key(name), recursive=True, allow_not_found=True)
        try:
            return any(True for _ in self.fs.get_file_info(selector))
        except (OSError, pa.ArrowException) as err:
            raise _storage_error(f"looking for run {name}", self.uri, err) from None

    def latest_run(self, record_name: str) -> str | None:
        """The run whose `record_name` (run.json) was written last, or None."""
        selector = pyarrow.fs.FileSelector(self.base, recursive=True, allow_not_found=True)
        try:
            infos = self.fs.get_file_info(selector)
        except (OSError, pa.ArrowException) as err:
            raise _storage_error("listing the runs", self.uri, err) from None
        records = [i for i in infos if i.type == pyarrow.fs.FileType.File
                   and i.path.count("/") == self.base.count("/") + 2
                   and i.base_name == record_name]
        if not records:
            return None
        newest = max(records, key=lambda i: i.mtime_ns or 0)
        return newest.path[len(self.base) + 1:].split("/", 1)[0]

    # -- moving files ---------------------------------------------------------------------
    def publish(self, name: str, path: Path, rel: str) -> None:
        """Upload one complete file (or every mirrored file of a folder) of the run's cache to
        the same place under its prefix."""
        path = Path(path)
        files = ([(path, rel)] if path.is_file() else
                 [(p, "/".join(filter(None, (rel, p.relative_to(path).as_posix()))))
                  for p in sorted(path.rglob("*")) if p.is_file()])
        for local, key_rel in files:
            if not mirrored(key_rel):
                continue
            try:
                with self.fs.open_output_stream(self.key(name, key_rel)) as out, \
                        open(local, "rb") as src:
                    for chunk in iter(lambda: src.read(1 << 22), b""):
                        out.write(chunk)
                # the cache file takes the object's time: fetch() then sees it as current
                info = self.fs.get_file_info(self.key(name, key_rel))
            except (OSError, pa.ArrowException) as err:
                raise _storage_error(f"publishing {name}/{key_rel}", self.uri,
                                     err) from None
            if info.mtime_ns:
                os.utime(local, ns=(info.mtime_ns, info.mtime_ns))

    def fetch(self, name: str) -> Path:
        """The run's cache folder, holding every mirrored object of its prefix: those the cache
        lacks, or holds older (another machine went on with the run), are downloaded; a cached
        file newer than its object, or with none (a publish that failed), is kept and published
        now."""
        folder = self.cache_folder(name)
        remote = self._files(name)
        for local in sorted(folder.rglob("*")) if folder.is_dir() else []:
            rel = local.relative_to(folder).as_posix()
            if local.is_file() and rel not in remote and mirrored(rel):
                self.publish(name, local, rel)  # written here, its publish failed: now
        for rel, info in remote.items():
            local = folder / rel
            if local.is_file():
                local_ns, remote_ns = local.stat().st_mtime_ns, info.mtime_ns or 0
                if local_ns == remote_ns and local.stat().st_size == info.size:
                    continue  # as published or fetched
                if local_ns > remote_ns:
                    self.publish(name, local, rel)
                    continue
            try:
                with self.fs.open_input_stream(info.path) as src:
                    data = src.read()
            except (OSError, pa.ArrowException) as err:
                raise _storage_error(f"fetching {name}/{rel}", self.uri, err) from None
            write_bytes(local, data)
            if info.mtime_ns:  # the object's time: the next fetch sees the cache as current
                os.utime(local, ns=(info.mtime_ns, info.mtime_ns))
        return folder
