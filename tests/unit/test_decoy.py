"""Decoy datasets (data/decoy.py) against hand-made cases, and through the real loading code on
the real MNIST and Fashion-MNIST files."""

from dataclasses import replace

import pytest
import torch

from smoot_dist.config import DataConfig
from smoot_dist.data.decoy import patch_side, regions, shades, stamp
from smoot_dist.data.loading import load_splits
from smoot_dist.foundations.catalog import dataset_label, dataset_title, parse_dataset
from smoot_dist.foundations.errors import ConfigError


def _patch_of(corner: int, size: int) -> torch.Tensor:
    """The patch drawn by hand: a side x side square in the corner (TL, TR, BL, BR)."""
    side, m = patch_side(size), torch.zeros(size, size, dtype=torch.bool)
    r = slice(0, side) if corner in (0, 1) else slice(size - side, size)
    c = slice(0, side) if corner in (0, 2) else slice(size - side, size)
    m[r, c] = True
    return m.flatten()


@pytest.mark.parametrize("size, side", [(28, 4), (32, 5), (64, 9), (5, 1)])
def test_each_corner_is_a_square_of_the_scaled_side(size, side):
    assert patch_side(size) == side
    got = regions(torch.tensor([0, 1, 2, 3]), size)
    for corner in range(4):
        assert torch.equal(got[corner], _patch_of(corner, size))
        assert got[corner].sum() == side * side


def test_the_shade_encodes_the_label_as_ross_et_al():
    assert shades(torch.arange(10), 10).tolist() == [255 - 25 * y for y in range(10)]
    assert shades(torch.tensor([0, 1]), 2).tolist() == [255, 30]  # the same range for any C
    assert len(set(shades(torch.arange(100), 100).tolist())) == 100


def test_a_colour_image_gets_a_grey_patch_and_nothing_else_changes():
    images = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    region = regions(torch.tensor([3, 0]), 8)
    out = stamp(images, region, torch.tensor([7, 200], dtype=torch.uint8))
    where = region.view(2, 1, 8, 8).expand(2, 3, 8, 8)
    assert torch.equal(out[~where], images[~where])
    assert (out[0][where[0]] == 7).all() and (out[1][where[1]] == 200).all()


def test_decoy_names():
    assert parse_dataset("decoy_mnist") == ("decoy", "mnist")
    assert parse_dataset("decoy:cifar10") == ("decoy", "cifar10")
    assert dataset_title("decoy_fashion_mnist") == "Decoy Fashion-MNIST"
    assert dataset_label("decoy:imagefolder:/data/pets") == "decoy-imagefolder-pets"
    for bad in ("decoy:parquet:/x", "decoy:decoy_mnist", "decoy:svhn"):
        with pytest.raises(ConfigError):
            parse_dataset(bad)


@pytest.fixture(scope="module")
def decoy_mnist(real_data_root):
    return load_splits(DataConfig("mnist")), load_splits(DataConfig("decoy_mnist"))


def _shade_in(images: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Each image's one grey level inside its region (checked to be one level)."""
    flat = images[:, 0].flatten(1)
    inside = torch.where(region, flat.int(), -1)
    level = inside.max(dim=1).values
    assert torch.equal(torch.where(region, flat.int(), level.unsqueeze(1)), level.unsqueeze(1).expand_as(flat))
    return level


def test_real_decoy_mnist_training_images_carry_the_label_in_a_corner(decoy_mnist):
    plain, decoy = decoy_mnist
    train = decoy.train
    region = train.decoy.region
    # the region is one of the four corner patches, each corner taken about equally often
    corners = torch.stack([_patch_of(c, 28) for c in range(4)])
    which = (region.unsqueeze(1) == corners.unsqueeze(0)).all(dim=2)
    assert (which.sum(dim=1) == 1).all()
    share = which.float().mean(dim=0)
    assert ((share - 0.25).abs() < 0.01).all(), share
    # the patch's level is 255 - 25 * label; every pixel off the patch is the original one
    assert torch.equal(_shade_in(train.images, region), 255 - 25 * train.labels)
    off = ~region.view(-1, 1, 28, 28)
    assert torch.equal(train.images[off], plain.train.images[off])
    assert torch.equal(train.labels, plain.train.labels)


def test_real_decoy_mnist_test_views(decoy_mnist):
    plain, decoy = decoy_mnist
    test, region = decoy.test, decoy.test.decoy.region
    views = test.decoy.views
    assert torch.equal(views["clean"], plain.test.images)
    assert torch.equal(_shade_in(views["shortcut"], region), 255 - 25 * test.labels)
    random_class = (255 - _shade_in(test.images, region)) // 25
    # the benchmark's shade encodes a class drawn independently of the label: it matches the
    # label about one time in ten, and every class about as often for every label
    assert abs((random_class == test.labels).float().mean().item() - 0.1) < 0.01
    table = torch.zeros(10, 10)
    table.index_put_((test.labels, random_class), torch.ones(len(test.labels)), accumulate=True)
    expected = torch.bincount(test.labels, minlength=10).float().unsqueeze(1) / 10
    assert ((table - expected).abs() / expected).max() < 0.35  # ~100 per cell, 3.5 sigma
    off = ~region.view(-1, 1, 28, 28)
    for view in (test.images, views["shortcut"]):
        assert torch.equal(view[off], plain.test.images[off])


def test_patches_are_deterministic_per_seed_and_kept_by_subsets(real_data_root):
    cfg = DataConfig("decoy_fashion_mnist")
    whole, again = load_splits(cfg), load_splits(cfg)
    assert torch.equal(whole.train.images, again.train.images)
    assert torch.equal(whole.test.images, again.test.images)
    other = load_splits(replace(cfg, split_seed=1))
    assert not torch.equal(whole.train.decoy.region, other.train.decoy.region)
    assert not torch.equal(whole.test.images, other.test.images)
    # a subset, a validation split and a test subset take their images' own patches
    part = load_splits(replace(cfg, train_subset=500, val_images=200, test_subset=300))
    assert torch.equal(part.train.images, whole.train.images[part.train_source_index])
    assert torch.equal(part.train.decoy.region, whole.train.decoy.region[part.train_source_index])
    # the validation images are shown as the test's decoy view: a random class's level
    val, source = part.val, part.val_source_index
    region = whole.train.decoy.region[source]
    assert torch.equal(val.decoy.region, region)
    off = ~region.view(-1, 1, 28, 28)
    assert torch.equal(val.images[off], whole.train.images[source][off])
    level = _shade_in(val.images, region)
    assert set(level.tolist()) <= {255 - 25 * c for c in range(10)}
    assert (level == 255 - 25 * val.labels).float().mean() < 0.25  # about 1 in 10
    assert torch.equal(level, _shade_in(load_splits(replace(cfg, val_images=200)).val.images,
                                        region))  # the same draw without a training subset
    assert torch.equal(part.test.images, whole.test.images[part.test_source_index])
    assert torch.equal(part.test.decoy.views["shortcut"],
                       whole.test.decoy.views["shortcut"][part.test_source_index])


def test_an_image_folder_takes_a_scaled_grey_patch(real_data_root, tmp_path):
    from tests.helpers.image_tree import write_fashion_tree

    root = write_fashion_tree(tmp_path / "pets", train_per_class=3, val_per_class=2)
    cfg = DataConfig(f"decoy:imagefolder:{root}", channels=3, image_size=32)
    plain = load_splits(replace(cfg, dataset=f"imagefolder:{root}"))
    decoy = load_splits(cfg)
    assert decoy.spec.title == "Decoy imagefolder-pets" and decoy.spec.channels == 3
    for split, original in ((decoy.train, plain.train), (decoy.test, plain.test)):
        region = split.decoy.region
        assert (region.sum(dim=1) == 25).all()  # 4 * 32 / 28 -> a 5x5 patch
        where = region.view(-1, 1, 32, 32).expand(-1, 3, 32, 32)
        patch = split.images[where].view(len(split), 3, 25)
        assert (patch == patch[:, :1, :1]).all()  # one grey level, in every channel
        assert torch.equal(split.images[~where], original.images[~where])
    assert torch.equal(decoy.train.images[decoy.train.decoy.region.view(-1, 1, 32, 32)
                                          .expand(-1, 3, 32, 32)].view(-1, 75)[:, 0],
                       255 - 25 * decoy.train.labels)
