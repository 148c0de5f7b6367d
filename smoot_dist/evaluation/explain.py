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
from typing import Any

import torch

from ..data.loading import channel_stats, normalize
from ..data.user_images import UserImages, class_index
from ..errors import ConfigError
from ..plots import plot_explanation, plot_saliency_grid
from ..tracking import registered_model_run, resolve_tracking_uri
from .attribution import TITLES, make_attributor, quiet_captum
from .trained_run import TrainedRun, load_trained

# The Shap methods need reference images of the run's data, which a user's images are not.
NEEDS_REFERENCES = ("gradient_shap", "deeplift_shap")
GRID_IMAGES = 16  # rows of grid.png (each image has its own figure)


def check_methods(methods: list[str]) -> list[str]:
    """The methods explain.py can draw, checked before any model or image is read."""
    refused = [m for m in methods if m in NEEDS_REFERENCES]
    if refused:
        raise ConfigError(f"{', '.join(refused)} need reference images of the run's data; "
                          f"explain.py draws grad, smoothgrad, integrated_gradients, deeplift "
                          f"or random")
    return methods


def load_model_to_explain(source: str, tracking_uri: str | None = None) -> TrainedRun:
    """A run folder, run name or MLflow run id (load_trained), or a registered model."""
    if source.startswith("models:/"):
        uri = resolve_tracking_uri(tracking_uri)
        return load_trained(registered_model_run(uri, source), uri)
    return load_trained(source, tracking_uri)


def _file_stem(i: int, path: Path) -> str:
    return f"{i:03d}-" + re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem)[:40]


def explain_images(run: TrainedRun, images: UserImages, methods: list[str], out: Path
                   ) -> list[dict[str, Any]]:
    """Predict and explain every image (`methods` passed check_methods); writes
    <out>/<nnn>-<name>.png per image, grid.png (the first GRID_IMAGES) and explanations.csv.
    Returns a row per image."""
    spec, model = run.spec, run.model.eval()
    mean, std = channel_stats(spec, "cpu")
    pixels = torch.from_numpy(images.pixels)
    x = normalize(pixels, mean, std)
    with torch.no_grad():
        probabilities = torch.softmax(model(x).float(), dim=1)
    confidence, predicted = probabilities.max(dim=1)
    h = w = spec.image_size
    with quiet_captum():
        maps = {TITLES[m]: make_attributor(m, model)(x, predicted).view(-1, h, w) for m in methods}
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, path in enumerate(images.files):
        name = spec.class_name(int(predicted[i]))
        true = images.true_names[i]
        true_index = class_index(true, spec.classes, spec.num_classes)
        shown_true = spec.class_name(true_index) if true_index is not None else true
        title = (f"{path.name}: predicted {name} ({float(confidence[i]):.2f})"
                 + (f", true {shown_true}" if true is not None else ""))
        figure = plot_explanation(pixels[i], {t: m[i] for t, m in maps.items()},
                                  out / f"{_file_stem(i, path)}.png", title)
        rows.append({"image": str(path), "predicted": name,
                     "probability": round(float(confidence[i]), 4),
                     "true": shown_true or "", "correct": "" if true_index is None else
                     str(true_index == int(predicted[i])).lower(),
                     "converted": images.conversions[i] or "", "figure": figure.name})
    labels = [f"{r['predicted']} ({r['probability']:.2f})" + (f"\ntrue {r['true']}" if r["true"]
                                                              else "") for r in rows]
    plot_saliency_grid(pixels[:GRID_IMAGES], {t: m[:GRID_IMAGES] for t, m in maps.items()},
                       out / "grid.png",
                       f"{run.name}: {', '.join(maps)} saliency of the predicted class",
                       row_labels=labels[:GRID_IMAGES])
    with open(out / "explanations.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows
