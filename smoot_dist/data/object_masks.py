"""The objects of a user's test images, from a masks folder (`jobs/evaluate.py --masks DIR`).

The masks folder mirrors the image folder: the mask of `PATH/val/cat/001.jpg` is
`DIR/val/cat/001.<any extension>` (the same relative path; `.png` beside a `.jpg` is the usual
case). Any non-zero pixel is object. A mask has its image's size (before the image is resized to
the run's `--image-size`; it is resized the same way, nearest neighbour, so it stays binary).
Built-in datasets need none: their object is the pixels above the image's background
(metrics/localisation.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..foundations.catalog import decoy_source, parse_dataset
from ..config import DataConfig
from ..foundations.errors import ConfigError, DataError
from . import image_folder as folder


def _mask_file(masks: Path, relative: Path) -> Path | None:
    exact = masks / relative
    if exact.is_file():
        return exact
    if not exact.parent.is_dir():
        return None
    return next((p for p in sorted(exact.parent.glob(relative.stem + ".*")) if p.is_file()), None)


def _read_mask(path: Path, image: Path, size: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    _, image_size = folder.probe(image)
    try:
        with Image.open(path) as img:
            if img.size != image_size:
                raise DataError(f"mask {path} is {img.size[0]}x{img.size[1]}, its image {image} "
                                f"{image_size[0]}x{image_size[1]}; give every mask its image's size")
            img = img.convert("L")
            if img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.NEAREST)
            return np.asarray(img) > 0
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as err:
        raise DataError(f"mask {path} is not an image that can be read ({type(err).__name__}); "
                        f"replace it") from None


def read_object_masks(cfg: DataConfig, masks_dir: str | Path, size: int,
                      source_index: torch.Tensor, split: str = "test") -> torch.Tensor:
    """(N, size*size) bool: the object of each image of the folder's `split` (test or train) at
    `source_index`, in that order: the test images an evaluation uses, or RRR's training
    images (--annotation-masks)."""
    kind, location = parse_dataset(decoy_source(cfg.dataset) or cfg.dataset)
    if kind != "imagefolder":
        raise ConfigError(f"--masks applies to image folders (imagefolder:PATH), not "
                          f"{cfg.dataset}; the built-in datasets' objects are the pixels above "
                          f"their background")
    masks = Path(masks_dir).expanduser()
    if not masks.is_dir():
        flag = "--masks" if split == "test" else "--annotation-masks"
        raise DataError(f"{flag} {masks} is not a folder; give the folder that mirrors the "
                        f"image folder's layout with one mask per {split} image")
    layout = folder.scan(location, cfg.val_fraction, cfg.split_seed)
    files = (layout.train if split == "train" else layout.test).files
    out = np.zeros((len(source_index), size * size), dtype=bool)
    for row, index in enumerate(source_index.tolist()):
        image = files[index]
        relative = image.relative_to(layout.root)
        path = _mask_file(masks, relative)
        if path is None:
            raise DataError(f"no mask for {image} in {masks} (looked for {masks / relative}); "
                            f"give each {split} image a mask at the same relative path")
        mask = _read_mask(path, image, size)
        if not mask.any():
            raise DataError(f"mask {path} has no object pixel (all zero); mark the object with "
                            f"non-zero pixels")
        out[row] = mask.reshape(-1)
    return torch.from_numpy(out)
