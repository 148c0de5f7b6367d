"""Deterministic, class-balanced subsets: quick runs (`--train-subset N`, `--test-subset N`) and
the validation split held out of the training data (`--val-images N`)."""

from __future__ import annotations

import torch

from ..foundations.errors import ConfigError

# Fixed, so that runs with different training seeds see the same subset and compare.
SUBSET_SEED = 20231002


def balanced_subset(labels: torch.Tensor, n: int, num_classes: int, what: str = "train",
                    seed: int = SUBSET_SEED, flag: str | None = None) -> torch.Tensor:
    """Sorted indices of `n` samples, as equal a share per class as possible.

    Classes take floor(n / C) samples each and the first n mod C classes one more; within a
    class the samples are a choice seeded by `seed`. Raises if a class runs short; `flag` is
    the option the messages name (default --<what>-subset).
    """
    flag = flag or f"--{what}-subset"
    total = labels.numel()
    if n > total:
        raise ConfigError(f"{flag} {n} exceeds the {total} {what} samples; "
                          f"pass a smaller number or drop the option")
    if n < num_classes:
        raise ConfigError(f"{flag} {n} is below the {num_classes} classes; "
                          f"pass at least {num_classes}")
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(total, generator=gen)
    shuffled = labels[order]
    picked = []
    for c in range(num_classes):
        want = n // num_classes + (1 if c < n % num_classes else 0)
        members = order[shuffled == c]
        if members.numel() < want:
            raise ConfigError(f"class {c} has only {members.numel()} {what} samples, fewer than "
                              f"the {want} that {flag} {n} needs; pass a smaller number")
        picked.append(members[:want])
    return torch.cat(picked).sort().values


def complement(indices: torch.Tensor, total: int) -> torch.Tensor:
    """The sorted indices of range(total) that are not in `indices`."""
    keep = torch.ones(total, dtype=torch.bool)
    keep[indices] = False
    return keep.nonzero().flatten()


def held_out_validation(labels: torch.Tensor, n: int, num_classes: int, split_seed: int
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """(validation indices, the rest): `n` class-balanced samples of a training split, held out.

    Seeded by `split_seed` alone (not by the training seed), so every seed of a sweep or a
    reproduction trains on the same rest and validates on the same images; a train subset is
    then drawn from the rest, so the two never share an image.
    """
    seed = SUBSET_SEED + 7919 * (split_seed + 1)  # never the train subset's own stream
    val = balanced_subset(labels, n, num_classes, "training", seed=seed, flag="--val-images")
    return val, complement(val, labels.numel())
