"""Deterministic, class-balanced subsets for quick runs (`--train-subset N`)."""

from __future__ import annotations

import torch

from ..errors import ConfigError

# Fixed, so that runs with different training seeds see the same subset and compare.
SUBSET_SEED = 20231002


def balanced_subset(labels: torch.Tensor, n: int, num_classes: int, what: str = "train") -> torch.Tensor:
    """Sorted indices of `n` samples, as equal a share per class as possible.

    Classes take floor(n / C) samples each and the first n mod C classes one more; within a
    class the samples are a seeded random choice. Raises if a class runs short.
    """
    total = labels.numel()
    if n > total:
        raise ConfigError(f"--{what}-subset {n} exceeds the {total} {what} samples; "
                          f"pass a smaller number or drop the option")
    if n < num_classes:
        raise ConfigError(f"--{what}-subset {n} is below the {num_classes} classes; "
                          f"pass at least {num_classes}")
    gen = torch.Generator().manual_seed(SUBSET_SEED)
    order = torch.randperm(total, generator=gen)
    shuffled = labels[order]
    picked = []
    for c in range(num_classes):
        want = n // num_classes + (1 if c < n % num_classes else 0)
        members = order[shuffled == c]
        if members.numel() < want:
            raise ConfigError(f"class {c} has only {members.numel()} {what} samples, fewer than "
                              f"the {want} that --{what}-subset {n} needs; pass a smaller number")
        picked.append(members[:want])
    return torch.cat(picked).sort().values
