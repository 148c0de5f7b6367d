"""Dataset registry: name -> what the rest of the code needs to know about it."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    torchvision_class: str  # class name in torchvision.datasets
    channels: int
    image_size: int
    num_classes: int
    mean: tuple[float, ...]  # per-channel normalisation of [0, 1] pixels
    std: tuple[float, ...]

    @property
    def num_pixels(self) -> int:
        """P = H * W: masking counts pixel positions, all channels of a pixel together."""
        return self.image_size * self.image_size


DATASETS: dict[str, DatasetSpec] = {
    s.name: s for s in (
        DatasetSpec("mnist", "MNIST", "MNIST", 1, 28, 10, (0.1307,), (0.3081,)),
        DatasetSpec("fashion_mnist", "Fashion-MNIST", "FashionMNIST", 1, 28, 10,
                    (0.2860,), (0.3530,)),
        DatasetSpec("cifar10", "CIFAR-10", "CIFAR10", 3, 32, 10,
                    (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
        DatasetSpec("cifar100", "CIFAR-100", "CIFAR100", 3, 32, 100,
                    (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    )
}


def get_dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}") from None
