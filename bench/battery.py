#!/usr/bin/env python
"""Throughput of the evaluation battery (evaluation/battery.py), per metric: images per second
for Grad on a quickly trained Fashion-MNIST CNN, side by side with Quantus's implementation of
the same metric on the same model, attribution method and images when Quantus is installed
(`pip install quantus`: an optional reference, never a dependency), as a ratio measured in this
one run. Both sides compute every attribution they need, the true class's included (Quantus
is given no precomputed maps), so that each is timed on the same work. Also: what Grad's
attribution alone costs (the metrics computed from a finished map should cost less), and the
whole default battery for Grad + Random against today's MoRF + LeRF evaluation of the same
images.

  python bench/battery.py --images 200            # CPU here
  python bench/battery.py --device cuda --images 2000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import describe, print_table, quick_model

from smoot_dist.config import DataConfig
from smoot_dist.data.loading import channel_stats, load_splits, normalize
from smoot_dist.attribution.methods import make_attributor, quiet_captum
from smoot_dist.metrics import battery_metrics
from smoot_dist.evaluation.battery import BatteryOptions, battery_sums
from smoot_dist.metrics.faithfulness.drop import accuracy_drop
from smoot_dist.metrics.localisation import object_masks
from smoot_dist.training.trainer import resolve_device

# Quantus's names and settings for the same measurement (Captum's Saliency = our Grad).
QUANTUS = {
    "mprt": ("MPRT", dict(layer_order="top_down", return_average_correlation=False)),
    "random_logit": ("RandomLogit", dict(num_classes=10)),
    "max_sensitivity": ("MaxSensitivity", dict(nr_samples=10, lower_bound=0.02)),
    "infidelity": ("Infidelity", dict(n_perturb_samples=10)),
    "sparseness": ("Sparseness", dict(abs=True, normalise=False)),
    "complexity": ("Complexity", dict(abs=True, normalise=False)),
    "localisation": ("RelevanceMassAccuracy", dict(abs=True, normalise=False)),
}
FROM_THE_MAP = ("sparseness", "complexity", "localisation")  # no model call beyond the attribution


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--images", type=int, default=200, help="test images to evaluate")
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--no-quantus", action="store_true", help="skip Quantus even if installed")
    args = p.parse_args()
    device = resolve_device(args.device)
    _cfg, model = quick_model("fashion_mnist", args.device)
    splits = load_splits(DataConfig("fashion_mnist", test_subset=args.images))
    data, spec, n = splits.test, splits.spec, args.images
    run = dict(device=device, batch_size=args.batch_size, options=BatteryOptions())

    mean, std = channel_stats(spec, device)
    x = normalize(data.images.to(device), mean, std)
    y = data.labels.to(device)
    with quiet_captum():
        grad = make_attributor("grad", model)
        attribution_s = _timed(lambda: grad(x, y))
    ours = {m: _timed(lambda m=m: battery_sums(model, data, spec, ["grad"], [m], **run)) for m in battery_metrics()}

    quantus = None if args.no_quantus else _quantus()
    theirs = {}
    if quantus is not None:
        xb, yb = x.cpu().numpy(), y.cpu().numpy()
        masks = object_masks(data.images).view(n, 1, spec.image_size, spec.image_size)
        for m, (name, kwargs) in QUANTUS.items():
            metric = getattr(quantus, name)(disable_warnings=True, display_progressbar=False, **kwargs)
            # a_batch=None: Quantus computes the true class's attribution itself, as ours does
            # (given the maps, it would skip the work that ours is timed on)
            call = dict(model=model.cpu(), x_batch=xb, y_batch=yb, a_batch=None, device="cpu",
                        explain_func=quantus.explain, explain_func_kwargs={"method": "Saliency"},
                        batch_size=args.batch_size)
            if m == "localisation":
                call["s_batch"] = masks.numpy().astype(np.float32)
            theirs[m] = _timed(lambda: metric(**call))
        model.to(device)

    rows = []
    for m in battery_metrics():
        rate = n / ours[m]
        quantus_rate = n / theirs[m] if m in theirs else None
        rows.append([m, ours[m], rate, "-" if quantus_rate is None else f"{quantus_rate:.1f}",
                     "-" if quantus_rate is None else f"{rate / quantus_rate:.1f}x"])
    print(f"evaluation battery, Fashion-MNIST CNN, Grad, {n} images, batch {args.batch_size}, "
          f"{describe(device)}" + ("" if quantus else " (Quantus not installed: no ratios)"))
    print_table(["metric", "seconds", "images/s", "Quantus images/s", "ours / Quantus"], rows)
    print(f"Grad's attribution alone: {attribution_s:.2f} s ({n / attribution_s:.0f} images/s); "
          "from the finished map: " + ", ".join(f"{m} {ours[m]:.2f} s" for m in FROM_THE_MAP))
    morf_lerf = _timed(lambda: accuracy_drop(model, data, spec, ["grad", "random"], device=device,
                                             batch_size=args.batch_size, orders=("morf", "lerf")))
    default = _timed(lambda: battery_sums(model, data, spec, ["grad", "random"], list(battery_metrics()), **run))
    print(f"default battery, Grad + Random: {default:.1f} s; MoRF + LeRF of the same images: "
          f"{morf_lerf:.1f} s; ratio {default / morf_lerf:.1f} (target <= 10)")
    print("targets: >= 10x Quantus's images/s on mprt, random_logit, max_sensitivity, infidelity")


def _quantus():
    try:
        import quantus
    except ImportError:
        return None
    return quantus


if __name__ == "__main__":
    torch.set_num_threads(max(1, torch.get_num_threads()))
    main()
