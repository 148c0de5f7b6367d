"""The catalogue of datasets by name: what every layer needs to know about a dataset's name
(config validates it, data loads it, models size themselves by it).

A dataset is a built-in name (mnist, fashion_mnist, cifar10, cifar100) or a user's own data:
`imagefolder:PATH` (torchvision's ImageFolder layout) or `parquet:PATH_OR_URI` (shards written by
`jobs/prepare_data.py`). Built-ins have their spec here; a user's dataset has it computed from
its files (data/image_folder.py, data/parquet_shards.py).

`decoy:<dataset>` is a built-in dataset or an image folder with a decoy patch whose grey level
encodes the label (Ross et al. 2017's Decoy MNIST: data/decoy.py); `decoy_mnist` and
`decoy_fashion_mnist` are the benchmark's own two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

# Prefixes of a user's own data, as in `--dataset imagefolder:~/pets`.
CUSTOM_KINDS = ("imagefolder", "parquet")


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    torchvision_class: str  # class name in torchvision.datasets ("" for a user's data)
    channels: int
    image_size: int
    num_classes: int
    mean: tuple[float, ...]  # per-channel normalisation of [0, 1] pixels
    std: tuple[float, ...]
    classes: tuple[str, ...] = ()  # class names, where the data has them

    def class_name(self, index: int) -> str:
        """The class's name where the data has names, else `class <index>`."""
        return self.classes[index] if index < len(self.classes) else f"class {index}"

    @property
    def num_pixels(self) -> int:
        """P = H * W: masking counts pixel positions, all channels of a pixel together."""
        return self.image_size * self.image_size


# Class names as torchvision's datasets give them (figures, jobs/explain.py); CIFAR-100's come
# from its files' metadata, so its figures say "class i".
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")

DATASETS: dict[str, DatasetSpec] = {
    s.name: s for s in (
        DatasetSpec("mnist", "MNIST", "MNIST", 1, 28, 10, (0.1307,), (0.3081,),
                    tuple(str(d) for d in range(10))),
        DatasetSpec("fashion_mnist", "Fashion-MNIST", "FashionMNIST", 1, 28, 10,
                    (0.2860,), (0.3530,), FASHION_CLASSES),
        DatasetSpec("cifar10", "CIFAR-10", "CIFAR10", 3, 32, 10,
                    (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), CIFAR10_CLASSES),
        DatasetSpec("cifar100", "CIFAR-100", "CIFAR100", 3, 32, 100,
                    (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    )
}
DECOY = "decoy"
DECOY_DATASETS = {"decoy_mnist": "mnist", "decoy_fashion_mnist": "fashion_mnist"}
DATASET_CHOICES = (*DATASETS, *DECOY_DATASETS, "imagefolder:PATH", "parquet:PATH_OR_URI",
                   "decoy:DATASET")


def decoy_source(name: str) -> str | None:
    """The dataset a decoy dataset is made from (`decoy_mnist` -> mnist, `decoy:X` -> X); None
    for any other name."""
    if name in DECOY_DATASETS:
        return DECOY_DATASETS[name]
    kind, sep, inner = name.partition(":")
    return inner if sep and kind == DECOY else None


def parse_dataset(name: str) -> tuple[str, str]:
    """("builtin", name), (kind, location) of `imagefolder:PATH` / `parquet:PATH_OR_URI`, or
    ("decoy", the dataset it is made from); ConfigError for anything else."""
    if name in DATASETS:
        return "builtin", name
    source = decoy_source(name)
    if source is not None:
        kind, _location = parse_dataset(source)  # a known dataset, checked
        if kind not in ("builtin", "imagefolder"):
            raise ConfigError(f"{name}: a decoy dataset is made from a built-in dataset or an "
                              f"image folder (decoy:mnist, decoy:imagefolder:PATH), not {source}")
        return DECOY, source
    kind, sep, location = name.partition(":")
    if sep and kind in CUSTOM_KINDS:
        if not location.strip():
            raise ConfigError(f"dataset {name!r} names no location; give {kind}:PATH")
        return kind, location
    raise ConfigError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASET_CHOICES)}")


def dataset_title(name: str) -> str:
    """How tables and figures name a dataset: Fashion-MNIST, not fashion_mnist; Decoy MNIST."""
    if name in DATASETS:
        return DATASETS[name].title
    source = decoy_source(name)
    return f"Decoy {dataset_title(source)}" if source is not None else dataset_label(name)


def dataset_label(name: str) -> str:
    """A short name fit for a folder name: the built-in name, or `<kind>-<last path part>`."""
    kind, location = parse_dataset(name)
    if kind == "builtin" or name in DECOY_DATASETS:
        return name
    if kind == DECOY:
        return f"{DECOY}-{dataset_label(location)}"[:40]
    last = re.sub(r"[^A-Za-z0-9._-]+", "_", location.rstrip("/").rsplit("/", 1)[-1]).strip("._-")
    return f"{kind}-{last or 'data'}"[:40]


def get_dataset_spec(name: str) -> DatasetSpec:
    """The spec of a built-in dataset."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}") from None


def absolute_dataset(name: str) -> str:
    """`imagefolder:PATH` / `parquet:PATH` with PATH made absolute (a run may resume, or a Ray
    worker read it, from another working directory); other names as they are."""
    kind, sep, location = name.partition(":")
    if sep and kind == DECOY:
        return f"{DECOY}:{absolute_dataset(location)}"
    if sep and kind in CUSTOM_KINDS and location and "://" not in location:
        return f"{kind}:{Path(location).expanduser().resolve()}"
    return name
