"""Load a dataset whole into uint8 tensors: a built-in one through torchvision's classes, a
user's image folder or Parquet shards through data/image_folder.py and data/parquet_shards.py.

Data that fits in (device) memory is one tensor per split: batches are index gathers, with no
per-sample Python in the hot loop. Pixels stay uint8 and are normalised per batch (4x less
memory than float; the conversion is cheap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..foundations.errors import ConfigError, DataError
from .integrity import raw_file_bytes
from .paths import data_root, prepare_command, raw_folder
from ..foundations.catalog import (DECOY, DatasetSpec, dataset_title, get_dataset_spec,
                                   parse_dataset)
from .decoy import Decoy, decoy_test, decoy_train, random_shades, stamp
from .object_masks import read_object_masks
from .subset import balanced_subset, held_out_validation
from . import image_folder as folder

# Locally built files in the CIFAR batch layout (tests; there is no offline CIFAR source) list
# their md5 here, in the batch folder; torchvision then checks them against it.
LOCAL_MD5_MANIFEST = "LOCAL_MD5SUMS"


@dataclass
class ImageTensors:
    images: torch.Tensor  # uint8, (N, C, H, W)
    labels: torch.Tensor  # int64, (N,)
    decoy: Decoy | None = None  # a decoy dataset's patches (and a test split's other views)

    def __len__(self) -> int:
        return self.labels.numel()

    def to(self, device: torch.device | str) -> "ImageTensors":
        return ImageTensors(self.images.to(device), self.labels.to(device),
                            self.decoy.to(device) if self.decoy is not None else None)

    def select(self, indices: torch.Tensor) -> "ImageTensors":
        return ImageTensors(self.images[indices], self.labels[indices],
                            self.decoy.select(indices) if self.decoy is not None else None)


@dataclass
class Splits:
    spec: DatasetSpec
    train: ImageTensors | None  # sample i of this tensor has global index i (None: not loaded)
    test: ImageTensors
    # Position in torchvision's training set of each global index (identity without a subset).
    train_source_index: torch.Tensor | None
    train_rows: int | None = None  # the train split's size when it is not loaded
    # Position in the dataset's whole test split of each test image (identity without a subset).
    test_source_index: torch.Tensor | None = None
    # The validation split (--val-images; an image folder's val/ beside test/): held out of the
    # training data, never trained on; None without one.
    val: ImageTensors | None = None
    # Position of each validation image in the split it was drawn from (the dataset's whole
    # training split, or the folder's val/).
    val_source_index: torch.Tensor | None = None
    # (N_train, H*W) bool by global index: the region RRR penalises (a decoy dataset's patch, or
    # everything off the object of an image folder's --annotation-masks); None without one.
    train_annotation: torch.Tensor | None = None

    @property
    def num_train(self) -> int:
        return len(self.train) if self.train is not None else self.train_rows


def _cifar_class(spec: DatasetSpec, root: Path):
    import torchvision.datasets as tvd

    base = getattr(tvd, spec.torchvision_class)
    manifest = root / base.base_folder / LOCAL_MD5_MANIFEST
    if not manifest.is_file():
        return base
    # `md5sum` format: "<md5>  <file name>" per line.
    sums = {name.lstrip("*"): md5 for md5, name in
            (line.split(maxsplit=1) for line in manifest.read_text().splitlines() if line.strip())}
    relist = lambda lst: [[name, sums.get(name, md5)] for name, md5 in lst]  # noqa: E731
    meta = dict(base.meta, md5=sums.get(base.meta["filename"], base.meta["md5"]))
    return type(base.__name__, (base,), {"train_list": relist(base.train_list),
                                         "test_list": relist(base.test_list), "meta": meta})


def parse_idx(data: bytes, path: Path) -> torch.Tensor:
    """The bytes of an IDX file of unsigned bytes (MNIST's format: two zero bytes, type 0x08,
    the number of dimensions, each dimension as a big-endian uint32, then the values), parsed
    as torchvision's MNIST parses them; `path` names the file in errors. Parsed here because
    importing torchvision costs every job 1.3 s (it loads torch._dynamo)."""
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise DataError(f"{path} is not an IDX file of unsigned bytes; run the prepare command "
                        f"again")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    values = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if values.size != math.prod(dims):
        raise DataError(f"{path} holds {values.size} values, its header says {dims}; run the "
                        f"prepare command again")
    return torch.from_numpy(values.copy()).view(*dims)


def _load_split(spec: DatasetSpec, root: Path, train: bool) -> ImageTensors:
    if spec.torchvision_class in ("MNIST", "FashionMNIST"):
        folder = raw_folder(spec.torchvision_class, root)
        prefix = "train" if train else "t10k"
        # each file read once, its digest checked before it is parsed
        images, labels = (parse_idx(raw_file_bytes(spec, root, name), folder / name)
                          for name in (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"))
        images, labels = images.unsqueeze(1), labels.long()  # (N, 1, 28, 28), (N,)
    else:
        try:
            ds = _cifar_class(spec, root)(str(root), train=train, download=False)
        except RuntimeError:
            raise DataError(f"{spec.title} not found or corrupt under {root}; run "
                            f"`{prepare_command(spec.name, root)} --download` (needs internet)") from None
        images = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()
        labels = torch.as_tensor(ds.targets, dtype=torch.long)
    expected = (spec.channels, spec.image_size, spec.image_size)
    if tuple(images.shape[1:]) != expected or images.dtype != torch.uint8:
        raise DataError(f"{spec.title} under {root} has images of shape {tuple(images.shape[1:])}, "
                        f"expected {expected}; run `{prepare_command(spec.name, root)}` again")
    if labels.numel() and (labels.min() < 0 or labels.max() >= spec.num_classes):
        raise DataError(f"{spec.title} under {root} has labels outside [0, {spec.num_classes}); "
                        f"run `{prepare_command(spec.name, root)}` again")
    return ImageTensors(images, labels)


def _user_spec(cfg: DataConfig, location: str, channels: int, size: int,
               classes: tuple[str, ...], mean, std) -> DatasetSpec:
    title = location.rstrip("/").rsplit("/", 1)[-1] or location
    return DatasetSpec(cfg.dataset, title, "", channels, size, len(classes), tuple(mean),
                       tuple(std), tuple(classes))


def _load_image_folder(cfg: DataConfig, location: str
                       ) -> tuple[DatasetSpec, ImageTensors, ImageTensors, ImageTensors | None]:
    """An ImageFolder tree, decoded whole (train, test, and its own val/ where it has one beside
    test/); mean/std measured on its train split."""
    layout = folder.scan(location, cfg.val_fraction, cfg.split_seed)
    lists = [layout.train, layout.test] + ([layout.val] if layout.val is not None else [])
    channels, size = folder.decide_format([f for split in lists for f in split.files],
                                          cfg.channels, cfg.image_size)
    tensors = [ImageTensors(torch.from_numpy(folder.read_images(split.files, channels, size)),
                            torch.tensor(split.labels, dtype=torch.long)) for split in lists]
    mean, std = folder.moments(folder.pixel_sums(tensors[0].images.numpy()))
    spec = _user_spec(cfg, location, channels, size, layout.classes, mean, std)
    return spec, tensors[0], tensors[1], tensors[2] if len(tensors) > 2 else None


def _load_parquet(cfg: DataConfig, location: str, with_train: bool = True,
                  description: dict | None = None
                  ) -> tuple[DatasetSpec, ImageTensors | None, ImageTensors]:
    """Parquet shards made by jobs/prepare_data.py, read whole (the train split only if asked);
    `description`: the dataset's, when the caller has read it already."""
    from . import parquet_shards as shards

    description = description or shards.describe(location)
    spec = _user_spec(cfg, location, description["channels"], description["image_size"],
                      tuple(description["classes"]), description["mean"], description["std"])
    split = lambda name: ImageTensors(*map(torch.from_numpy,  # noqa: E731
                                           shards.read_split(location, name, description)))
    return spec, split("train") if with_train else None, split("test")


def load_splits(cfg: DataConfig, train: bool = True) -> Splits:
    """The dataset's spec and its splits, whole in memory. `train=False`: leave the train split
    out (it is streamed); only Parquet shards can be read that way."""
    kind, location = parse_dataset(cfg.dataset)
    if kind == DECOY:  # the dataset it is made from, then its patches (data/decoy.py)
        cfg, decoy_of = replace(cfg, dataset=location), cfg.dataset
        kind, location = parse_dataset(location)
    else:
        decoy_of = None
    for name in ("image_size", "channels"):
        if getattr(cfg, name) is not None and kind != "imagefolder":
            raise ConfigError(f"--{name.replace('_', '-')} applies to image folders "
                              f"(imagefolder:PATH); {cfg.dataset} has its {name.replace('_', ' ')} "
                              f"fixed")
    rows, own_val, annotation = None, None, None
    if not train:  # (no validation split then: config validation refuses it for training)
        if kind != "parquet":
            raise ConfigError(f"only Parquet shards can be streamed, not {cfg.dataset}; convert "
                              f"it with jobs/prepare_data.py, or use --data-loader memory")
        from .parquet_shards import check_split, describe

        description = describe(location)
        spec, train, test = _load_parquet(cfg, location, with_train=False, description=description)
        rows = check_split(location, "train", description)  # the footers, not the images
    elif kind == "imagefolder":
        spec, train, test, own_val = _load_image_folder(cfg, location)
        if cfg.annotation_masks:  # off the object: all that RRR's gradient should leave alone
            annotation = ~read_object_masks(cfg, cfg.annotation_masks, spec.image_size,
                                            torch.arange(len(train)), split="train")
    elif kind == "parquet":
        spec, train, test = _load_parquet(cfg, location)
    else:
        spec = get_dataset_spec(cfg.dataset)
        root = data_root(cfg.root)
        train = _load_split(spec, root, train=True)
        test = _load_split(spec, root, train=False)
    if decoy_of is not None:
        spec, train, test, own_val = _with_decoys(cfg, decoy_of, spec, train, test, own_val)
    source = torch.arange(len(train)) if train is not None else None
    val, val_source, rest = _validation(cfg, spec, train, own_val)
    if decoy_of is not None and val is not None:  # shown as the test's decoy view
        split = "train" if own_val is None else "val"
        whole = len(train) if own_val is None else len(own_val)
        shade = random_shades(whole, spec.num_classes, cfg.split_seed, split)[val_source]
        val = ImageTensors(stamp(val.images, val.decoy.region, shade), val.labels, val.decoy)
    if rest is not None:  # held out of the training data: train on the rest
        source = rest
    if cfg.train_subset is not None:
        source = source[balanced_subset(train.labels[source], cfg.train_subset,
                                        spec.num_classes, "train")]
    if source is not None and len(source) != len(train):
        train = train.select(source)
    if train is not None and train.decoy is not None:
        annotation = train.decoy.region
    elif annotation is not None:
        annotation = annotation[source]
    test_source = torch.arange(len(test))
    if cfg.test_subset is not None:
        test_source = balanced_subset(test.labels, cfg.test_subset, spec.num_classes, "test")
        test = test.select(test_source)
    return Splits(spec, train, test, source, rows, test_source, val, val_source, annotation)


def _with_decoys(cfg: DataConfig, name: str, spec: DatasetSpec, train: ImageTensors,
                 test: ImageTensors, own_val: ImageTensors | None):
    """The whole splits with their patches, drawn from --split-seed (before any subset or
    validation split is taken, so that an image keeps its patch in every selection)."""
    def trained(split: ImageTensors, stream: str) -> ImageTensors:
        images, decoy = decoy_train(split.images, split.labels, spec.num_classes,
                                    cfg.split_seed, stream)
        return ImageTensors(images, split.labels, decoy)

    spec = replace(spec, name=name, title=dataset_title(name))
    images, decoy = decoy_test(test.images, test.labels, spec.num_classes, cfg.split_seed)
    test = ImageTensors(images, test.labels, decoy)
    return (spec, trained(train, "train"), test,
            trained(own_val, "val") if own_val is not None else None)


def _validation(cfg: DataConfig, spec: DatasetSpec, train: ImageTensors | None,
                own: ImageTensors | None):
    """(the validation split, where its images come from, the training images left to train
    on or None where all are): `own` (an image folder's val/), whole or `--val-images` of it;
    else `--val-images` held out of `train`; else none."""
    if own is not None:
        if cfg.val_images is None:
            return own, torch.arange(len(own)), None
        index = balanced_subset(own.labels, cfg.val_images, spec.num_classes, "validation",
                                seed=cfg.split_seed, flag="--val-images")
        return own.select(index), index, None
    if cfg.val_images is None or train is None:
        return None, None, None
    index, rest = held_out_validation(train.labels, cfg.val_images, spec.num_classes,
                                      cfg.split_seed)
    return train.select(index), index, rest


def load_test_split(cfg: DataConfig) -> Splits:
    """The spec and test split for evaluation: a streamed dataset's train split is not read
    (the others need theirs: an image folder's normalisation is measured on it)."""
    return load_splits(cfg, train=parse_dataset(cfg.dataset)[0] != "parquet")


def normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32, standardised per channel (mean/std shaped (1, C, 1, 1))."""
    return (images.float().div_(255.0) - mean) / std


def channel_stats(spec: DatasetSpec, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
    shape = (1, spec.channels, 1, 1)
    return (torch.tensor(spec.mean, device=device).view(shape),
            torch.tensor(spec.std, device=device).view(shape))
