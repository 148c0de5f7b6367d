"""URIs as the tool shows and records them."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def without_credentials(uri: str) -> str:
    """A URI as it may be shown or written down: a user and password in it (https://u:p@host,
    s3://KEY:SECRET@bucket) never are (the libraries take them from the environment as well)."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")))


def is_remote(storage_path: str | None) -> bool:
    """A storage path on another machine's disks (s3://, gs://, ...), not a local folder or a
    file:// URI."""
    return bool(storage_path) and "://" in storage_path and not storage_path.startswith("file://")
