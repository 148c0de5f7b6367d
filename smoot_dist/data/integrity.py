"""Checksums of the files torchvision reads, checked before every load.

The IDX files are deterministic products of `jobs/prepare_data.py` (Fashion-MNIST: the
original files uncompressed; MNIST: converted from the checksum-checked pickle), so their
sha256 is known: a truncated or altered file is reported instead of training on it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..foundations.errors import DataError
from .paths import prepare_command, raw_folder
from ..foundations.catalog import DatasetSpec

RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# sha256 of the uncompressed original release files (MNIST's conversion from the pickle
# reproduces the original IDX files byte for byte).
RAW_SHA256: dict[str, dict[str, str]] = {
    "MNIST": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "FashionMNIST": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}


def raw_file_bytes(spec: DatasetSpec, root: Path, name: str) -> bytes:
    """The raw file `name` of `spec` under `root`, read once and checked against its known
    sha256: a DataError naming the prepare command if it is missing or altered. A load parses
    the bytes this returns, so each file is read and hashed once."""
    path = raw_folder(spec.torchvision_class, root) / name
    if not path.is_file():
        raise DataError(f"{spec.title} not found under {root} (missing {path.name}); "
                        f"run `{prepare_command(spec.name, root)}`")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != RAW_SHA256[spec.torchvision_class][name]:
        raise DataError(f"{path} is corrupt (sha256 {digest[:12]}... does not match); "
                        f"run `{prepare_command(spec.name, root)}` to rebuild it")
    return data


def verify_raw_files(spec: DatasetSpec, root: Path) -> None:
    """Raise DataError naming the prepare command if a raw file is missing or altered."""
    for name in RAW_FILES:
        raw_file_bytes(spec, root, name)
