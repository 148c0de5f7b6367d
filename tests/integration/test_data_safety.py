"""prepare_data.py never destroys what the user has (the second hostile pass, item 1), and data
that is not what it claims is one line (items 11 and 12): decompression bombs, Parquet
descriptions and columns that lie."""

import hashlib
import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import expect_one_line, run_job
from tests.helpers.image_tree import write_decompression_bomb, write_fashion_tree

pytestmark = pytest.mark.integration


def _tree_state(root):
    """Every file under `root` by relative path, with its sha256: what must not change."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def pets(real_data_root, tmp_path):
    """A user's image folder (real Fashion-MNIST PNGs), 3 train and 2 val images per class,
    one train image unreadable: what the hostile pass used."""
    root = write_fashion_tree(tmp_path / "pets", 3, 2)
    (root / "train" / "Bag" / "zz-notes.png").write_text("not an image")
    return root


def _prepare(source, to, *extra):
    return run_job("prepare_data.py", f"imagefolder:{source}", "--to", str(to), "--jobs", "1",
                   *extra)


@pytest.mark.parametrize("target,how", [
    (lambda pets: pets, "is"),
    (lambda pets: pets / "train", "lies inside"),
    (lambda pets: pets / "shards", "lies inside"),
    (lambda pets: pets.parent, "contains"),
])
def test_a_target_that_is_inside_or_around_the_source_is_refused(pets, target, how):
    before = _tree_state(pets)
    r = _prepare(pets, target(pets))
    expect_one_line(r, f"--to {target(pets)} {how} the image folder being converted ({pets})")
    assert _tree_state(pets) == before  # every file, byte for byte
    assert "converting" not in r.stdout  # refused before the folder was even read


def test_a_folder_of_the_users_own_is_never_written_into(pets, tmp_path):
    mine = tmp_path / "mine"
    (mine / "train" / "a").mkdir(parents=True)
    (mine / "train" / "a" / "000.png").write_bytes(b"my picture")
    (mine / "test").mkdir()
    before = _tree_state(mine)
    for extra in ((), ("--force",)):  # --force replaces datasets the tool made, nothing else
        r = _prepare(pets, mine, *extra)
        expect_one_line(r, f"--to {mine} is not empty and holds no dataset prepared by "
                           f"smoot_dist (it has {mine / 'train' / 'a' / '000.png'}); nothing was "
                           f"written")
        assert _tree_state(mine) == before


def test_a_failed_conversion_leaves_the_target_as_it_was(pets, tmp_path):
    good = tmp_path / "good"
    shutil.copytree(pets, good)
    (good / "train" / "Bag" / "zz-notes.png").unlink()
    out = tmp_path / "shards"
    ok = _prepare(good, out)
    assert ok.returncode == 0, ok.stderr[-2000:]
    dataset = _tree_state(out)
    # the bad image folder onto the existing dataset, with --force: the old dataset stays whole
    r = _prepare(pets, out, "--force")
    expect_one_line(r, "zz-notes.png is not an image that can be read")
    assert _tree_state(out) == dataset
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good", "pets", "shards"]  # no leftovers
    # a new dataset replaces the tool's own earlier one when asked, in one swap
    (good / "train" / "Bag" / sorted((good / "train" / "Bag").iterdir())[0].name).unlink()
    again = _prepare(good, out, "--force")
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(pq.read_schema(out / "_common_metadata").metadata[b"smoot_dist"]
                      )["splits"]["train"]["rows"] == 29
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good", "pets", "shards"]
    # a prepared dataset with a file of the user's inside is not replaced, even with --force
    (out / "train" / "my-notes.txt").write_text("mine")
    before = _tree_state(out)
    expect_one_line(_prepare(good, out, "--force"), "holds a prepared dataset and files smoot_dist "
                                                    "did not write")
    assert _tree_state(out) == before


def test_a_decompression_bomb_is_one_line_for_prepare_and_train(pets, tmp_path):
    (pets / "train" / "Bag" / "zz-notes.png").unlink()
    write_decompression_bomb(pets / "train" / "Bag" / "huge.png")  # 48 KB, 20000 x 20000
    expect_one_line(_prepare(pets, tmp_path / "shards"), "huge.png is too large to decode safely "
                                                          "(Image size (400000000 pixels) exceeds")
    assert not (tmp_path / "shards").exists()
    r = run_job("train.py", "--dataset", f"imagefolder:{pets}", "--workers", "0", "--no-tracking",
                "--storage-path", str(tmp_path / "runs"))
    expect_one_line(r, "huge.png is too large to decode safely")
    assert not (tmp_path / "runs").exists()


# -- Parquet datasets that are not what they claim -------------------------------------------
@pytest.fixture()
def shards(pets, tmp_path):
    (pets / "train" / "Bag" / "zz-notes.png").unlink()
    out = tmp_path / "shards"
    r = _prepare(pets, out)
    assert r.returncode == 0, r.stderr[-2000:]
    return out


def _describe_as(shards, **changes):
    path = shards / "_common_metadata"
    schema = pq.read_schema(path)
    description = {**json.loads(schema.metadata[b"smoot_dist"]), **changes}
    pq.write_metadata(schema.with_metadata({b"smoot_dist": json.dumps(description)}), path)


def _train_on(shards, tmp_path):
    return run_job("train.py", "--dataset", f"parquet:{shards}", "--workers", "0", "--no-tracking",
                   "--epochs", "1", "--storage-path", str(tmp_path / "runs"), timeout=120)


def test_a_description_that_asks_for_30_tib_is_refused_before_anything_is_allocated(shards, tmp_path):
    _describe_as(shards, image_size=1_000_000)
    expect_one_line(_train_on(shards, tmp_path), "is not a valid dataset description (image_size "
                                                 "must be a whole number of pixels in [1, 4096], "
                                                 "got 1000000)")
    assert not (tmp_path / "runs").exists()


def test_a_null_image_in_a_shard_is_one_line(shards, tmp_path):
    path = shards / "train" / "part-00000.parquet"
    table = pq.read_table(path)
    images = table.column("image").to_pylist()
    images[3] = None
    table = table.set_column(2, pa.field("image", pa.binary()), pa.array(images, pa.binary()))
    pq.write_table(table, path)
    expect_one_line(_train_on(shards, tmp_path), "has null values in column image")
