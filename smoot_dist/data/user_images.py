"""A user's own images, read as a trained run's model takes them (jobs/explain.py).

Files, or folders of them; a folder of class subfolders (ImageFolder's layout) also gives each
image its true class (the subfolder's name). Each image is converted to the run's channel count
and size (grey <-> colour, a bilinear resize) and the conversion is said, or, with
convert=False, refused in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..foundations.errors import DataError
from .image_folder import describe, read_image

_KIND = {1: "grey", 3: "colour"}


@dataclass
class UserImages:
    pixels: np.ndarray  # uint8 (N, C, H, W), as the run's model takes them
    files: list[Path]
    true_names: list[str | None]  # the class subfolder's name, where there is one
    conversions: list[str | None]  # "64x48 colour -> 28x28 grey", where one was needed


def _listing(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as err:  # a folder this user may not read
        raise DataError(f"{folder} cannot be read ({(err.strerror or type(err).__name__).lower()}"
                        f"); give a folder you can read") from None


@dataclass
class Collected:
    """The images a command line names, in order, and what was left of them."""
    items: list[tuple[Path, str | None]]  # (image file, its class subfolder's name or None)
    found: int  # before --limit
    loose: int  # unlabelled images beside class subfolders (explained, with no true class)


def collect(paths: list[str], limit: int) -> Collected:
    """Each path given, folders expanded (a folder of class subfolders gives each image its
    class; images beside those subfolders come too, unlabelled), at most `limit` in all."""
    found: list[tuple[Path, str | None]] = []
    loose = 0
    for given in paths:
        path = Path(given).expanduser()
        if path.is_file():
            found.append((path, None))
        elif path.is_dir():
            entries = _listing(path)
            classes = [p for p in entries if p.is_dir()]
            files = [p for p in entries if p.is_file()]
            if classes:  # labelled: <folder>/<class>/<image>
                loose += len(files)
            found += [(f, c.name) for c in classes for f in _listing(c) if f.is_file()]
            found += [(f, None) for f in files]
        else:
            raise DataError(f"{path} does not exist; give image files or a folder of them")
    if not found:
        raise DataError(f"no images in {', '.join(paths)}; give image files or a folder of them")
    return Collected(found[:limit], len(found), loose)


def read_for_model(items: list[tuple[Path, str | None]], channels: int, size: int,
                   convert: bool = True) -> UserImages:
    pixels, notes = [], []
    for path, _ in items:
        c, (w, h), depth = describe(path)
        note = None
        if (c, w, h) != (channels, size, size):
            note = (f"{w}x{h} {_KIND.get(c, f'{c}-channel')} -> {size}x{size} "
                    f"{_KIND.get(channels, f'{channels}-channel')}")
            if not convert:
                raise DataError(f"{path} is {w}x{h} {_KIND.get(c, f'{c}-channel')}, the run's "
                                f"model takes {size}x{size} {_KIND.get(channels, '')} images; "
                                f"convert it, or drop --no-convert to have it converted")
        if depth != 8:  # scaled to 8 bits by its own depth (image_folder.read_image)
            note = ", ".join(filter(None, [f"{depth}-bit -> 8-bit", note]))
        pixels.append(read_image(path, channels, size))
        notes.append(note)
    return UserImages(np.stack(pixels), [p for p, _ in items], [n for _, n in items], notes)


def class_index(name: str | None, classes: tuple[str, ...], num_classes: int) -> int | None:
    """A class subfolder's name as the run's class index: by the run's class names, else a
    folder named by the index itself (0/, 1/, ...); None when it names neither."""
    if name is None:
        return None
    if name in classes:
        return classes.index(name)
    if name.isdigit() and int(name) < num_classes:
        return int(name)
    return None
