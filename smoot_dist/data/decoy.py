"""Decoy datasets: a shortcut with ground truth (Ross et al. 2017, "Right for the Right Reasons",
their Decoy MNIST; used again by CDEP, Rieger et al. 2020).

Every image gets a square patch in one of its four corners (the corner drawn per image). In the
training split (and a validation split drawn from it) the patch's grey level encodes the label:
255 - 225 * y / (C - 1), which for ten classes is Ross et al.'s 255 - 25 * y. A model can learn
the class from the patch alone. The test split comes in three views of the same images and
corners:

    decoy     the patch's grey level encodes a class drawn at random, independent of the label
              (the benchmark: the images a decoy dataset's evaluation measures)
    shortcut  the patch encodes the label, as in training (the shortcut intact)
    clean     no patch

A validation split (held out of the training images, or an image folder's val/) is shown as the
test's `decoy` view: the patch's level encodes a random class, so that a setting chosen on it
(RRR's weight, a sweep's) aims at what the benchmark measures, without a test image.

A model that relies on the patch loses accuracy from `shortcut` to `decoy` (the shortcut gap);
one that relies on the object does not. The patch is 4x4 on 28x28 images (Ross et al.'s) and
scaled with the image's side elsewhere; colour images get a grey patch (every channel the same
level). Everything is drawn from `seed` (the data's --split-seed) and the image's position in
its whole split, so a subset, a validation split, Ray's workers and a second evaluation see the
same patches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .sharding import mix_seed

PATCH_SIDE_AT_28 = 4  # Ross et al.'s 4x4 patch on MNIST's 28x28
TOP_SHADE, SHADE_RANGE = 255, 225  # class 0 is white, the last class grey level 30
# the generators' streams: each split's corners, and the random classes of the test split, of a
# validation split held out of the training images, and of an image folder's own val/
_STREAMS = {"train": 1, "val": 2, "test": 3, "test_shades": 4, "train_shades": 5, "val_shades": 6}


@dataclass
class Decoy:
    """What a decoy split carries beside its images (rows as the images' rows)."""
    region: torch.Tensor  # (N, H*W) bool: the patch, the region a model should ignore
    # the test split's other views (shortcut, clean): uint8 images as `images`
    views: dict[str, torch.Tensor] = field(default_factory=dict)

    def select(self, rows: torch.Tensor) -> "Decoy":
        return Decoy(self.region[rows], {k: v[rows] for k, v in self.views.items()})

    def to(self, device: torch.device | str) -> "Decoy":
        return Decoy(self.region.to(device), {k: v.to(device) for k, v in self.views.items()})


def patch_side(image_size: int) -> int:
    return max(1, round(PATCH_SIDE_AT_28 * image_size / 28))


def shades(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The patch's grey level (uint8) that encodes each class."""
    step = SHADE_RANGE / max(num_classes - 1, 1)
    return (TOP_SHADE - torch.round(labels.double() * step)).to(torch.uint8)


def _generator(seed: int, stream: str) -> torch.Generator:
    return torch.Generator().manual_seed(mix_seed(seed, _STREAMS[stream]))


def corners(count: int, seed: int, split: str) -> torch.Tensor:
    """(count,) in 0..3: top left, top right, bottom left, bottom right, per image."""
    return torch.randint(4, (count,), generator=_generator(seed, split))


def regions(corner: torch.Tensor, image_size: int) -> torch.Tensor:
    """(N, H*W) bool: each image's patch, a square of patch_side(image_size) in its corner."""
    side = patch_side(image_size)
    at = torch.arange(image_size)
    first, last = at < side, at >= image_size - side
    rows = torch.stack([first, first, last, last])[corner]  # (N, H)
    cols = torch.stack([first, last, first, last])[corner]  # (N, W)
    return (rows.unsqueeze(2) & cols.unsqueeze(1)).flatten(1)


def stamp(images: torch.Tensor, region: torch.Tensor, shade: torch.Tensor) -> torch.Tensor:
    """A copy of uint8 (N, C, H, W) images with each image's region set to its shade, in
    every channel."""
    n, c, h, w = images.shape
    where = region.view(n, 1, h, w).expand(n, c, h, w)
    return torch.where(where, shade.view(n, 1, 1, 1).expand(n, c, h, w), images)


def decoy_train(images: torch.Tensor, labels: torch.Tensor, num_classes: int, seed: int,
                split: str = "train") -> tuple[torch.Tensor, Decoy]:
    """A training (or an image folder's own validation) split with the shortcut: the patch
    encodes the label."""
    region = regions(corners(len(labels), seed, split), images.shape[-1])
    return stamp(images, region, shades(labels, num_classes)), Decoy(region)


def random_shades(count: int, num_classes: int, seed: int, split: str) -> torch.Tensor:
    """The level of a class drawn at random for each of a split's `count` images."""
    drawn = torch.randint(num_classes, (count,), generator=_generator(seed, f"{split}_shades"))
    return shades(drawn, num_classes)


def decoy_test(images: torch.Tensor, labels: torch.Tensor, num_classes: int, seed: int
               ) -> tuple[torch.Tensor, Decoy]:
    """The test split's `decoy` view (the patch encodes a random class), with the `shortcut`
    and `clean` views of the same images."""
    region = regions(corners(len(labels), seed, "test"), images.shape[-1])
    views = {"shortcut": stamp(images, region, shades(labels, num_classes)), "clean": images}
    return (stamp(images, region, random_shades(len(labels), num_classes, seed, "test")),
            Decoy(region, views))
