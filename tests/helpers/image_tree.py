"""Real images in an ImageFolder tree: Fashion-MNIST test and train images written as PNG files,
so a user's-data path is exercised through its real reading code."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def class_names() -> list[str]:
    from torchvision.datasets import FashionMNIST

    return [name.replace("/", "-") for name in FashionMNIST.classes]


def write_fashion_tree(root: Path, train_per_class: int, val_per_class: int | None) -> Path:
    """root/train/<class>/<n>.png (and root/val/... when val_per_class is given) from the real
    Fashion-MNIST files; with val_per_class None: root/<class>/<n>.png, one folder per class."""
    from PIL import Image

    from smoot_dist.config import DataConfig
    from smoot_dist.data.loading import load_splits

    splits = load_splits(DataConfig("fashion_mnist"))
    names = class_names()
    parts = [("train" if val_per_class is not None else "", splits.train, train_per_class)]
    if val_per_class is not None:
        parts.append(("val", splits.test, val_per_class))
    for folder, data, per_class in parts:
        labels = data.labels.numpy()
        for c, name in enumerate(names):
            target = root / folder / name
            target.mkdir(parents=True, exist_ok=True)
            for i in np.flatnonzero(labels == c)[:per_class]:
                Image.fromarray(data.images[i, 0].numpy()).save(target / f"{i:05d}.png")
    return root


def write_decompression_bomb(path: Path, side: int = 20000) -> Path:
    """A valid 1-bit PNG of side x side pixels in a few dozen KB (all zero rows compress to
    almost nothing): what PIL refuses to decode as a decompression bomb."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" * (1 + side // 8)  # filter byte + packed 1-bit pixels
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path
