"""Checks before a training job creates anything: fail in seconds, not in a worker."""

from __future__ import annotations

import torch

from ..config import JobConfig
from ..data.loading import Splits, load_splits
from ..errors import UserError
from ..models import create_model


def check_data_and_model(cfg: JobConfig) -> Splits:
    """Data present and intact, subset sizes possible, model buildable and able to take the
    dataset's images; returns the loaded splits."""
    splits = load_splits(cfg.data)
    model = create_model(cfg.model, splits.spec).eval()
    spec = splits.spec
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, spec.channels, spec.image_size, spec.image_size))
    except Exception as err:  # shape errors come as RuntimeError, AssertionError, ValueError...
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise UserError(f"model {cfg.model.name} cannot take {spec.title}'s {spec.channels}x"
                        f"{spec.image_size}x{spec.image_size} images ({first}); choose "
                        f"--input-size/--patch-size that fit it") from None
    if tuple(out.shape) != (2, spec.num_classes):
        raise UserError(f"model {cfg.model.name} gives outputs of shape {tuple(out.shape)[1:]}, "
                        f"not {spec.num_classes} class scores; choose another --model")
    return splits
