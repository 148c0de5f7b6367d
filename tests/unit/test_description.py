"""A Parquet dataset's description is checked whole when it is read (the second hostile pass,
items 11 and 12): each way of lying is named, none reaches an allocation or a division."""

import pytest

from smoot_dist.data.description import check_description
from smoot_dist.foundations.errors import DataError

GOOD = {"version": 1, "classes": ["a", "b"], "image_size": 28, "channels": 1, "mean": [0.3],
        "std": [0.35], "rows_per_shard": 10, "splits": {"train": {"rows": 25, "shards": 3},
                                                        "test": {"rows": 5, "shards": 1}}}


def test_a_whole_description_passes():
    assert check_description(dict(GOOD), "d") == GOOD


@pytest.mark.parametrize("changes,message", [
    ({"splits": {}}, "splits must describe exactly a train and a test split"),
    ({"splits": {"train": {"rows": 25, "shards": 3}}}, "exactly a train and a test split"),
    ({"image_size": -28}, "image_size must be a whole number of pixels in [1, 4096], got -28"),
    ({"image_size": "28"}, "image_size must be a whole number of pixels in [1, 4096], got '28'"),
    ({"image_size": 1e6}, "got 1000000.0"),
    ({"image_size": True}, "got True"),
    ({"channels": "3"}, "channels must be 1 or 3, got '3'"),
    ({"channels": -1}, "channels must be 1 or 3, got -1"),
    ({"channels": 3}, "mean must be 3 number(s) in [0, 1], one per channel"),
    ({"std": [0.0]}, "std must be 1 number(s) in (0, 1], one per channel (a std of 0 would divide"),
    ({"std": [float("nan")]}, "std must be 1 number(s)"),
    ({"classes": ["a"]}, "classes must be a list of at least two distinct names"),
    ({"classes": ["a", "a"]}, "classes must be a list of at least two distinct names"),
    ({"rows_per_shard": 0}, "rows_per_shard must be a positive whole number, got 0"),
    ({"splits": {"train": {"rows": 25, "shards": 2}, "test": {"rows": 5, "shards": 1}}},
     "splits.train.shards must be 3 for 25 rows of 10 per shard, got 2"),
    ({"splits": {"train": {"rows": 0, "shards": 0}, "test": {"rows": 5, "shards": 1}}},
     "splits.train.rows must be a positive whole number"),
    ({"version": 7}, "version 7 is not one this smoot_dist reads"),
])
def test_every_lie_is_named(changes, message):
    with pytest.raises(DataError) as err:
        check_description({**GOOD, **changes}, "/data/x/_common_metadata")
    assert message in str(err.value)
    assert str(err.value).startswith("/data/x/_common_metadata is not a valid dataset description")


def test_a_description_missing_fields_or_not_an_object():
    with pytest.raises(DataError, match="it has no mean, std"):
        check_description({k: v for k, v in GOOD.items() if k not in ("mean", "std")}, "d")
    with pytest.raises(DataError, match="not a JSON object"):
        check_description([1, 2], "d")
