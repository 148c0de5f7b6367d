"""An S3-compatible server on 127.0.0.1 for the storage tests: moto in server mode (as Ray's own
tests simulate S3), started and stopped by the tests, never a runtime dependency (the
`cluster-test` extra, which scripts/setup.sh installs for the tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# Credentials the server accepts (it checks none); the jobs read them from the environment, as
# they would a real store's, and must never write them anywhere.
S3_ENV = {"AWS_ACCESS_KEY_ID": "smoot-test-key", "AWS_SECRET_ACCESS_KEY": "smoot-test-secret",
          "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class S3Server:
    port: int
    log: Path
    process: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=lambda: dict(S3_ENV))

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def uri(self, bucket: str, prefix: str = "runs") -> str:
        """A pyarrow / Ray storage URI of `bucket/prefix` on this server."""
        return f"s3://{bucket}/{prefix}?endpoint_override={self.endpoint}&scheme=http"

    def export(self, monkeypatch) -> None:
        """Give this test's process the server's credentials, as a node's environment gives the
        jobs theirs (the code under test reads them from there)."""
        for key, value in self.env.items():
            monkeypatch.setenv(key, value)

    def filesystem(self):
        """A pyarrow file system on this server with the credentials passed in, so a test reads
        the bucket without touching its own environment."""
        import pyarrow.fs

        return pyarrow.fs.S3FileSystem(
            access_key=self.env["AWS_ACCESS_KEY_ID"], secret_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region=self.env["AWS_REGION"], endpoint_override=self.endpoint, scheme="http")

    def objects(self, where: str) -> dict[str, bytes]:
        """{key below `where`: bytes} of every object there ({} if none); `where` is
        "bucket/prefix" or an s3:// URI on this server (its query is ignored)."""
        import pyarrow.fs

        if where.startswith("s3://"):
            parts = urlsplit(where)
            where = parts.netloc + parts.path
        where = where.rstrip("/")
        fs = self.filesystem()
        infos = fs.get_file_info(pyarrow.fs.FileSelector(where, recursive=True,
                                                         allow_not_found=True))
        return {i.path[len(where) + 1:]: fs.open_input_stream(i.path).read()
                for i in infos if i.type == pyarrow.fs.FileType.File}

    def make_bucket(self, bucket: str) -> None:
        request = urllib.request.Request(f"http://{self.endpoint}/{bucket}", method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200, response.status

    def start(self, timeout_s: float = 60) -> None:
        """Start (or start again, on the same port) and wait until it answers."""
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://{self.endpoint}/", timeout=2):
                    return
            except urllib.error.HTTPError:  # an answer: a server checking credentials refuses
                return
            except OSError:
                time.sleep(0.2)
        self.stop()  # nothing left behind
        raise RuntimeError(f"moto server did not answer in {timeout_s} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def start_s3_server(folder: Path, check_credentials: bool = False) -> S3Server:
    """A server on a free port; `check_credentials`: it refuses every request not signed with
    an access key made through its own IAM (moto's INITIAL_NO_AUTH_ACTION_COUNT=0), so the
    tests' keys are refused as wrong ones would be."""
    server = S3Server(_free_port(), folder / "moto.log")
    if check_credentials:
        server.env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    server.start()
    return server
