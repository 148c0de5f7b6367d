"""URIs as the tool shows and records them, and an object store's failure told in words."""

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


# How pyarrow's S3 client words a store that did not answer or failed (its "AWS Error <code>"),
# and a connection its HTTP client (curl) could not make or keep.
STORE_FAILURES = ("AWS Error NETWORK_CONNECTION", "AWS Error SERVICE_UNAVAILABLE",
                  "AWS Error INTERNAL_FAILURE", "AWS Error SLOW_DOWN", "AWS Error UNKNOWN",
                  "curlCode")


def store_problem(err: BaseException) -> str | None:
    """What a failed read or write of object storage says, in one line; None if `err` is not
    the store failing (a missing key, refused credentials and the like are told elsewhere)."""
    text = str(err)
    if isinstance(err, OSError) and any(token in text for token in STORE_FAILURES):
        return text.strip().splitlines()[0][:300]
    return None
