"""A trained run explains a user's own images: its prediction (class, probability) and the
saliency of that prediction, drawn per image and as one grid (jobs/explain.py).

The attribution is of the predicted class: what made the model say what it said, which is the
question a user asks of a new image (the true class, where a labelled folder gives it, is shown
beside it).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any, Callable

import torch

from ..data.loading import channel_stats, normalize
from ..data.user_images import UserImages, class_index
from ..foundations.errors import ConfigError
from ..plots.images import plot_explanation, plot_saliency_grid
from ..runs.tracking import registered_model_run, resolve_tracking_uri
from ..attribution import title as method_title
from ..attribution.methods import make_attributor, quiet_captum
from ..evaluation.trained_run import TrainedRun, load_trained

# The Shap methods need reference images of the run's data, which a user's images are not.
NEEDS_REFERENCES = ("gradient_shap", "deeplift_shap")
GRID_IMAGES = 16  # rows of grid.png (each image has its own figure)
# Images read, predicted and explained at a time: memory stays flat however many images there
# are (each image's figure is written, and its pixels dropped, before the next batch is read).
BATCH_IMAGES = 64


def check_methods(methods: list[str], chosen_all: bool = False) -> tuple[list[str], list[str]]:
    """(the methods explain.py draws, those `all` left out), checked before any model or image
    is read. Named one by one, a method that needs reference images is refused; `all` means
    every method that applies."""
    refused = [m for m in methods if m in NEEDS_REFERENCES]
    if refused and not chosen_all:
        raise ConfigError(f"{', '.join(refused)} need reference images of the run's data; "
                          f"explain.py draws grad, smoothgrad, integrated_gradients, deeplift "
                          f"or random")
    return [m for m in methods if m not in refused], refused


def load_model_to_explain(source: str, tracking_uri: str | None = None,
                          storage_path: str | None = None) -> TrainedRun:
    """A run folder, run name (under `storage_path`, local or remote) or MLflow run id
    (load_trained), or a registered model."""
    if source.startswith("models:/"):
        uri = resolve_tracking_uri(tracking_uri)
        return load_trained(registered_model_run(uri, source), uri)
    return load_trained(source, tracking_uri, storage_path)


def _file_stem(i: int, path: Path) -> str:
    return f"{i:03d}-" + re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem)[:40]


def _explain_batch(run: TrainedRun, images: UserImages, methods: list[str], out: Path,
                   first: int) -> tuple[list[dict[str, Any]], torch.Tensor, dict[str, torch.Tensor]]:
    """One batch: its rows, pixels and maps (the caller keeps the grid's share of them)."""
    spec, model = run.spec, run.model
    mean, std = channel_stats(spec, "cpu")
    pixels = torch.from_numpy(images.pixels)
    x = normalize(pixels, mean, std)
    with torch.no_grad():
        probabilities = torch.softmax(model(x).float(), dim=1)
    confidence, predicted = probabilities.max(dim=1)
    h = w = spec.image_size
    with quiet_captum():
        maps = {method_title(m): make_attributor(m, model)(x, predicted).view(-1, h, w) for m in methods}
    rows = []
    for i, path in enumerate(images.files):
        name = spec.class_name(int(predicted[i]))
        true = images.true_names[i]
        true_index = class_index(true, spec.classes, spec.num_classes)
        shown_true = spec.class_name(true_index) if true_index is not None else true
        title = (f"{path.name}: predicted {name} ({float(confidence[i]):.2f})"
                 + (f", true {shown_true}" if true is not None else ""))
        figure = plot_explanation(pixels[i], {t: m[i] for t, m in maps.items()},
                                  out / f"{_file_stem(first + i, path)}.png", title)
        rows.append({"image": str(path), "predicted": name,
                     "probability": round(float(confidence[i]), 4),
                     "true": shown_true or "", "correct": "" if true_index is None else
                     str(true_index == int(predicted[i])).lower(),
                     "converted": images.conversions[i] or "", "figure": figure.name})
    return rows, pixels, maps


def explain_images(run: TrainedRun, items: list[tuple[Path, str | None]],
                   read: Callable[[list[tuple[Path, str | None]]], UserImages],
                   methods: list[str], out: Path, progress: Callable[[int], None] | None = None
                   ) -> list[dict[str, Any]]:
    """Predict and explain every image (`methods` passed check_methods), BATCH_IMAGES at a time
    (`read` turns a batch of collected items into the model's pixels); writes
    <out>/<nnn>-<name>.png per image, explanations.csv (a row per image, as each batch is done)
    and grid.png (the first GRID_IMAGES). Returns a row per image."""
    run.model.eval()
    rows: list[dict[str, Any]] = []
    grid_pixels: list[torch.Tensor] = []
    grid_maps: dict[str, list[torch.Tensor]] = {}
    with open(out / "explanations.csv", "w", newline="") as f:
        writer = None
        for first in range(0, len(items), BATCH_IMAGES):
            batch, pixels, maps = _explain_batch(run, read(items[first:first + BATCH_IMAGES]),
                                                 methods, out, first)
            if writer is None:
                writer = csv.DictWriter(f, fieldnames=list(batch[0]))
                writer.writeheader()
            writer.writerows(batch)
            rows += batch
            room = GRID_IMAGES - sum(len(p) for p in grid_pixels)
            if room > 0:
                grid_pixels.append(pixels[:room])
                for t, m in maps.items():
                    grid_maps.setdefault(t, []).append(m[:room])
            if progress is not None:
                progress(len(rows))
    labels = [f"{r['predicted']} ({r['probability']:.2f})" + (f"\ntrue {r['true']}" if r["true"]
                                                              else "") for r in rows]
    plot_saliency_grid(torch.cat(grid_pixels), {t: torch.cat(m) for t, m in grid_maps.items()},
                       out / "grid.png",
                       f"{run.name}: {', '.join(grid_maps)} saliency of the predicted class",
                       row_labels=labels[:GRID_IMAGES])
    return rows
