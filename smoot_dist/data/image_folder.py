"""A user's images in torchvision's ImageFolder layout, read into uint8 arrays.

    PATH/train/<class>/<image>    PATH/val/<class>/<image> (or test/)    a given split
    PATH/<class>/<image>                                                 a held-out split

Classes are the sorted folder names (ImageFolder's convention); a split's global index is the
position of an image in sorted relative-path order, so it is stable across runs and machines.
Without val/ or test/, each class keeps `val_fraction` of its images (a seeded draw) as the test
split. Every image is converted to one channel count and one size; images that disagree need
--channels / --image-size, and anything that is not an image is named.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..foundations.errors import DataError

# The held-out folders: test/ is the test split; val/ is the test split where it stands alone
# (ImageNet's layout) and the validation split beside test/.
TEST_FOLDERS = ("test", "val")
_MODE_CHANNELS = {"1": 1, "L": 1, "LA": 1, "I": 1, "I;16": 1, "I;16L": 1, "I;16B": 1, "I;16N": 1,
                  "F": 1, "P": 3, "RGB": 3, "RGBA": 3, "CMYK": 3, "YCbCr": 3}
# 16-bit grey (PNG, TIFF): scaled to 8 bits by its depth (65535 -> 255), not clipped at 255 as
# Pillow's convert("L") does (which turned a 16-bit image almost white)
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
# 32-bit samples have no one range to scale by (a signed count, a float of any scale): refused
REFUSED_MODES = {"I": "32-bit integer", "F": "32-bit floating-point"}


@dataclass(frozen=True)
class ImageList:
    """One split: image files and their labels, in global-index order."""
    root: Path
    files: tuple[Path, ...]
    labels: tuple[int, ...]


@dataclass(frozen=True)
class FolderLayout:
    root: Path  # the image folder itself (nothing is ever written inside it)
    classes: tuple[str, ...]
    train: ImageList
    test: ImageList
    val: ImageList | None = None  # val/ beside test/: the folder's own validation split


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _class_images(folder: Path, classes: tuple[str, ...], train_dir: Path
                  ) -> list[tuple[Path, int]]:
    found = []
    for path in _visible(folder):
        if not path.is_dir():
            raise DataError(f"{path} is a file where {folder} holds one folder per class; move it "
                            f"out of the tree")
        if path.name not in classes:
            raise DataError(f"{path} is a class folder that {train_dir} does not have; give every "
                            f"split the same class folders")
        label = classes.index(path.name)
        images = [(f, label) for f in sorted(p for p in path.rglob("*")
                                             if p.is_file() and not p.name.startswith("."))]
        if not images and folder == train_dir:
            raise DataError(f"class folder {path} has no images; add some or remove the folder")
        found += images
    return found


def _classes_of(folder: Path) -> tuple[str, ...]:
    classes = tuple(p.name for p in _visible(folder) if p.is_dir())
    if not classes:
        raise DataError(f"no class folders under {folder}: expected {folder}/<class>/<image> "
                        f"(or {folder}/train/<class>/...)")
    if len(classes) == 1:
        raise DataError(f"{folder} holds one class only ({classes[0]}); a classifier needs at "
                        f"least two class folders")
    return classes


def scan(root: str | Path, val_fraction: float, split_seed: int) -> FolderLayout:
    """The image folder's classes and its two splits (no image is opened yet)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; give --dataset imagefolder:PATH of "
                        f"an existing folder")
    test_dir = next((root / name for name in TEST_FOLDERS if (root / name).is_dir()), None)
    train_dir = root / "train" if (root / "train").is_dir() else root
    if test_dir is not None and train_dir == root:
        raise DataError(f"{root} has {test_dir.name}/ but no train/; put the training images in "
                        f"{root}/train/<class>/")
    classes = _classes_of(train_dir)
    train = _class_images(train_dir, classes, train_dir)
    if not train:
        raise DataError(f"no images under {train_dir}: its class folders are empty")
    val_dir = root / "val" if test_dir == root / "test" and (root / "val").is_dir() else None
    val = _class_images(val_dir, classes, train_dir) if val_dir is not None else None
    if val_dir is not None and not val:
        raise DataError(f"the validation split under {val_dir} has no images")
    if test_dir is not None:
        test = _class_images(test_dir, classes, train_dir)
    else:  # held out: a seeded share of each class, the same for every run
        rng = random.Random(split_seed)
        by_class: dict[int, list[Path]] = {}
        for path, label in train:
            by_class.setdefault(label, []).append(path)
        held: set[Path] = set()
        for label, paths in by_class.items():
            if len(paths) < 2:
                raise DataError(f"class {classes[label]} has {len(paths)} image under {train_dir}: "
                                f"holding out a test split needs at least 2 per class (or add "
                                f"{root}/val/)")
            held |= set(rng.sample(paths, max(1, math.floor(val_fraction * len(paths)))))
        test = [(p, y) for p, y in train if p in held]
        train = [(p, y) for p, y in train if p not in held]
    if not test:
        raise DataError(f"the test split under {test_dir or root} has no images")
    split = lambda pairs, base: ImageList(base, tuple(p for p, _ in pairs),  # noqa: E731
                                          tuple(y for _, y in pairs))
    return FolderLayout(root, classes, split(train, train_dir), split(test, test_dir or train_dir),
                        split(val, val_dir) if val is not None else None)


def _open_error(path: Path, err: Exception) -> DataError:
    from PIL import Image

    if isinstance(err, Image.DecompressionBombError):
        # a small file that decodes to gigabytes (e.g. a 48 KB 20000x20000 1-bit PNG)
        return DataError(f"{path} is too large to decode safely ({str(err).split(',')[0]}); "
                         f"remove it from the image folder or shrink it")
    return DataError(f"{path} is not an image that can be read ({type(err).__name__}); remove it "
                     f"from the image folder")


def describe(path: Path) -> tuple[int, tuple[int, int], int]:
    """(channels, (width, height), bits per sample) from the file's header, without decoding
    its pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            depth = 16 if img.mode in SIXTEEN_BIT_MODES else 32 if img.mode in REFUSED_MODES else 8
            return _MODE_CHANNELS.get(img.mode, 3), img.size, depth
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as err:
        raise _open_error(path, err) from None


def probe(path: Path) -> tuple[int, tuple[int, int]]:
    """(channels, (width, height)) from the file's header, without decoding its pixels."""
    return describe(path)[:2]


def _eight_bit(img, path: Path):
    """A 16-bit image scaled to 8 bits by its depth; a 32-bit one refused in one line."""
    from PIL import Image

    if img.mode in REFUSED_MODES:
        raise DataError(f"{path} has {REFUSED_MODES[img.mode]} pixels, which have no fixed range "
                        f"to scale to 8 bits; save it with 8 or 16 bits per sample")
    if img.mode in SIXTEEN_BIT_MODES:
        deep = np.asarray(img, dtype=np.float64)
        return Image.fromarray(np.rint(deep / 257.0).astype(np.uint8))
    return img


def decide_format(files: list[Path], channels: int | None, size: int | None,
                  probes=None) -> tuple[int, int]:
    """The one (channels, size) every image is read at: the given ones, else what all images
    share; DataError naming two images that disagree. `probes`: probe() of each file, when the
    caller computed them (in parallel)."""
    if channels is not None and size is not None:
        return channels, size
    seen_channels: dict[int, Path] = {}
    seen_sizes: dict[tuple[int, int], Path] = {}
    for path, (c, wh) in zip(files, probes if probes is not None else map(probe, files)):
        seen_channels.setdefault(c, path)
        seen_sizes.setdefault(wh, path)
    if channels is None and len(seen_channels) > 1:
        (c1, p1), (c2, p2) = list(seen_channels.items())[:2]
        raise DataError(f"images have {c1} and {c2} channels ({p1} and {p2}); pass --channels 1 "
                        f"or --channels 3")
    if size is None:
        if len(seen_sizes) > 1:
            (s1, p1), (s2, p2) = list(seen_sizes.items())[:2]
            raise DataError(f"images have different sizes ({p1} is {s1[0]}x{s1[1]}, {p2} is "
                            f"{s2[0]}x{s2[1]}); pass --image-size SIZE")
        (w, h), path = next(iter(seen_sizes.items()))
        if w != h:
            raise DataError(f"images are {w}x{h}, not square ({path}); pass --image-size SIZE")
        size = w
    return channels or next(iter(seen_channels)), size


def read_image(path: Path, channels: int, size: int) -> np.ndarray:
    """One image as uint8 (C, H, W) with `channels` channels, resized to size x size."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = _eight_bit(img, path).convert("L" if channels == 1 else "RGB")
            if img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as err:
        raise _open_error(path, err) from None
    return np.ascontiguousarray(array[None] if array.ndim == 2 else array.transpose(2, 0, 1))


def read_images(files, channels: int, size: int) -> np.ndarray:
    """Every file as one uint8 array (N, C, H, W)."""
    return np.stack([read_image(path, channels, size) for path in files])


def pixel_sums(images: np.ndarray) -> np.ndarray:
    """Per-channel [sum, sum of squares, count] of [0, 1] pixels, (3, C): summable over parts."""
    x = images.astype(np.float64) / 255.0
    count = np.full(x.shape[1], x.size / x.shape[1])
    return np.stack([x.sum(axis=(0, 2, 3)), (x * x).sum(axis=(0, 2, 3)), count])


def moments(sums: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std from pixel_sums (added up over parts)."""
    total, squares, count = sums
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
    return tuple(float(m) for m in mean), tuple(float(max(s, 1e-6)) for s in std)
