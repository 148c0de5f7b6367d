"""What a training run gives MLflow beside its metrics: the data it used (dataset inputs with a
digest of the exact subset) and its model as an MLflow model a user can load with torch alone.

The logged model takes pixels in [0, 1], (B, C, H, W) float32, as a user's images are: the
dataset's normalisation is its first layer (torchvision's Normalize), so nobody has to know the
channel statistics to call it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import JobConfig
from ..foundations.catalog import DATASETS, decoy_source, parse_dataset
from ..data.loading import ImageTensors, Splits
from ..data.paths import data_root, raw_folder
from ..models.registry import create_model


def _source(cfg: JobConfig) -> tuple[str, str]:
    """(source, source type) of the dataset: where its files are."""
    name = decoy_source(cfg.data.dataset) or cfg.data.dataset  # a decoy's: its source's files
    kind, location = parse_dataset(name)
    if kind in ("imagefolder", "parquet"):
        scheme = location.split("://", 1)[0] if "://" in location else "local"
        return location, scheme
    spec = DATASETS[name]
    return str(raw_folder(spec.torchvision_class, data_root(cfg.data.root))), "local"


def _digest(dataset: str, split: str, index: torch.Tensor | None,
            tensors: ImageTensors | None, rows: int | None) -> str:
    """Of the exact subset: which samples of which dataset and, where they are in memory, their
    pixels and labels."""
    h = hashlib.sha256(f"{dataset}:{split}:{rows}".encode())
    if index is not None:
        h.update(index.to(torch.int64).numpy().tobytes())
    if tensors is not None:
        h.update(tensors.images.numpy().tobytes())
        h.update(tensors.labels.to(torch.int64).numpy().tobytes())
    return h.hexdigest()[:12]


def dataset_inputs(cfg: JobConfig, splits: Splits) -> list[dict[str, Any]]:
    """The training, validation (where there is one) and test data as MLflow dataset inputs
    (tracking.MlflowRun.log_datasets)."""
    source, source_type = _source(cfg)
    spec, out = splits.spec, []
    parts = [("training", "train", splits.train, splits.train_source_index, cfg.data.train_subset),
             ("test", "test", splits.test, splits.test_source_index, cfg.data.test_subset)]
    if splits.val is not None:
        parts.insert(1, ("validation", "validation", splits.val, splits.val_source_index,
                         cfg.data.val_images))
    for context, split, tensors, index, subset in parts:
        rows = len(tensors) if tensors is not None else splits.train_rows
        name = f"{spec.title} {split}" + (f" ({rows} class-balanced)" if subset is not None else "")
        out.append({"name": name, "context": context, "source": source,
                    "source_type": source_type,
                    "digest": _digest(cfg.data.dataset, context, index, tensors, rows),
                    "profile": json.dumps({"num_rows": rows, "num_classes": spec.num_classes,
                                           "channels": spec.channels,
                                           "image_size": spec.image_size})})
    return out


def servable_model(cfg: JobConfig, splits: Splits, state: dict[str, torch.Tensor]
                   ) -> tuple[nn.Module, str | None]:
    """(the trained model behind the dataset's normalisation: pixels in [0, 1] in, logits out;
    the code folder it needs, or None). TorchScript where the model scripts (the papers' CNN
    does): a few files, loadable with torch alone, still an nn.Module with gradients; else the
    module itself, whose pickle names smoot_dist's classes, so the package travels with it."""
    # here, not at the top: torchvision's import pulls in torch._dynamo (1.3 s here), which a
    # job without tracking never needs
    from torchvision.transforms import Normalize

    model = create_model(cfg.model, splits.spec)
    model.load_state_dict(state)
    spec = splits.spec
    servable = nn.Sequential(Normalize(spec.mean, spec.std), model).eval()
    try:
        with warnings.catch_warnings():
            # TorchScript is deprecated for torch.export, whose programs refuse eval() and
            # the gradients Captum takes: the warning would only be noise in every run's log
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.script(servable), None
    except Exception:  # a timm model that does not script
        return servable, package_dir()


def input_example(splits: Splits, count: int = 2) -> np.ndarray:
    """A few test images as the logged model takes them (float32 pixels in [0, 1])."""
    return (splits.test.images[:count].float() / 255.0).numpy()


def requirements() -> list[str]:
    """What loading the logged model needs: torch and torchvision at this run's versions,
    without the local build tag."""
    return [f"torch=={torch.__version__.split('+')[0]}",
            f"torchvision=={importlib.metadata.version('torchvision').split('+')[0]}"]


def package_dir() -> str:
    """smoot_dist's own folder: the code path of a logged model that did not script (its
    modules are pickled by reference)."""
    return str(Path(__file__).resolve().parents[1])
