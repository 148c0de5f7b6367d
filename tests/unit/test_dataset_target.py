"""Where prepare_data.py writes a dataset on object storage (data/dataset_target.py), against a
real S3-compatible server (moto, on 127.0.0.1): the temporary sibling keeps the URI's query, a
prefix holding anything else is refused, and --force swaps the new dataset in whole."""

import os

import pyarrow.fs
import pytest

from smoot_dist.data.dataset_target import (COMMON_METADATA, check_target, staging_location,
                                            swap_in)
from smoot_dist.foundations.errors import DataError


@pytest.fixture
def s3(s3_server, monkeypatch):
    s3_server.export(monkeypatch)
    return s3_server


def _put(uri, key, data):
    fs, base = pyarrow.fs.FileSystem.from_uri(uri)
    with fs.open_output_stream(f"{base}/{key}") as out:
        out.write(data)


def _our_dataset(uri, shard=b"rows"):
    """A dataset as the tool writes it: its description (ours only with the smoot_dist key in its
    schema metadata) and a shard."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    fs, base = pyarrow.fs.FileSystem.from_uri(uri)
    schema = pa.schema([("index", pa.int64())], metadata={b"smoot_dist": b"{}"})
    with fs.open_output_stream(f"{base}/{COMMON_METADATA}") as out:
        pq.write_metadata(schema, out)
    _put(uri, "train/part-00000.parquet", shard)


def test_the_staging_sibling_of_a_uri_keeps_its_query(tmp_path):
    uri = "s3://bucket/pets?endpoint_override=127.0.0.1:9000&scheme=http"
    assert staging_location(uri) == (f"s3://bucket/pets.partial-{os.getpid()}"
                                      f"?endpoint_override=127.0.0.1:9000&scheme=http")
    assert staging_location(str(tmp_path / "out")) == f"{tmp_path / 'out'}.partial-{os.getpid()}"


def test_a_prefix_on_s3_is_checked_and_replaced_only_whole(s3, tmp_path):
    uri = s3.uri("bucket", "target-pets")
    check_target(tmp_path / "tree", uri, force=False)  # nothing there yet: fine
    _put(uri, "notes.txt", b"mine")
    with pytest.raises(DataError, match="is not empty and holds no dataset prepared by smoot_dist"):
        check_target(tmp_path / "tree", uri, force=True)
    assert s3.objects(uri).keys() == {"notes.txt"}  # never touched

    ours = s3.uri("bucket", "target-ours")
    _our_dataset(ours, b"old")
    with pytest.raises(DataError, match="already holds a prepared dataset; pass --force"):
        check_target(tmp_path / "tree", ours, force=False)
    check_target(tmp_path / "tree", ours, force=True)
    staged = staging_location(ours)
    _our_dataset(staged, b"new")
    _put(staged, "test/part-00000.parquet", b"test rows")
    swap_in(staged, ours)
    fs, base = pyarrow.fs.FileSystem.from_uri(ours)
    with fs.open_input_stream(f"{base}/train/part-00000.parquet") as f:
        assert f.read() == b"new"
    assert set(s3.objects(ours)) == {COMMON_METADATA, "train/part-00000.parquet",
                                "test/part-00000.parquet"}
    assert not s3.objects(staged)  # the temporary sibling is gone


def test_credentials_in_a_target_uri_are_never_printed(s3, tmp_path):
    uri = s3.uri("bucket", "target-secret").replace("s3://", "s3://KEYID:SECRETKEY@")
    _put(s3.uri("bucket", "target-secret"), "notes.txt", b"mine")
    with pytest.raises(DataError) as err:
        check_target(tmp_path / "tree", uri, force=False)
    assert "SECRETKEY" not in str(err.value) and "target-secret" in str(err.value)
