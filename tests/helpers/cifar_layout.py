"""Write small files in the real CIFAR python-batch layout (there is no offline CIFAR source).

The files are read back by torchvision's own CIFAR classes; their md5s go into the
LOCAL_MD5SUMS manifest that smoot_dist's loader hands to torchvision's integrity check.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np

from smoot_dist.data.loading import LOCAL_MD5_MANIFEST


def _dump(path: Path, obj) -> str:
    path.write_bytes(pickle.dumps(obj, protocol=2))
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_cifar(root: Path, num_classes: int = 10, per_batch: int = 20, test: int = 20,
                seed: int = 0, image_fn=None) -> Path:
    """CIFAR-10 (5 train batches + test) or CIFAR-100 (train + test) files; returns the folder.

    `image_fn(labels, rng) -> uint8 (n, 3, 32, 32)` makes the images (default: uniform noise).
    """
    rng = np.random.default_rng(seed)
    image_fn = image_fn or (lambda labels, r: r.integers(0, 256, (len(labels), 3, 32, 32), dtype=np.uint8))
    cifar10 = num_classes == 10
    folder = root / ("cifar-10-batches-py" if cifar10 else "cifar-100-python")
    folder.mkdir(parents=True, exist_ok=True)
    label_key = "labels" if cifar10 else "fine_labels"
    names = [f"data_batch_{i}" for i in range(1, 6)] if cifar10 else ["train"]
    sizes = [per_batch] * len(names)
    sums = {}
    for name, size in zip(names + ["test_batch" if cifar10 else "test"], sizes + [test]):
        labels = rng.integers(0, num_classes, size)
        data = image_fn(labels, rng).reshape(size, 3072)
        sums[name] = _dump(folder / name, {"data": data, label_key: labels.tolist()})
    meta_name, meta_key = ("batches.meta", "label_names") if cifar10 else ("meta", "fine_label_names")
    sums[meta_name] = _dump(folder / meta_name, {meta_key: [f"class{c}" for c in range(num_classes)]})
    (folder / LOCAL_MD5_MANIFEST).write_text("".join(f"{md5}  {n}\n" for n, md5 in sums.items()))
    return folder
