"""Explain your own images with a trained run: the model's prediction (class, probability) and
the saliency of that prediction, one PNG per image (the input, the saliency over it, the map
with its colour bar) and a grid of them.

  python jobs/explain.py ~/smoot_dist/runs/fashion_mnist-smoot-20261128-070056 shoe.png bag.jpg
  python jobs/explain.py fashion_mnist-smoot-20261128-070056 ~/photos/     # a run name, a folder
  python jobs/explain.py RUN ~/labelled/ --methods grad,integrated_gradients  # <class>/<image>: true class too
  python jobs/explain.py 3f8a825d35a64fc786e3f323e6934f05 img.png            # an MLflow run id
  python jobs/explain.py models:/fmnist-smoot/1 img.png                      # a registered model

Images of another size or channel count are converted as the run's dataset requires (grey or
colour, a bilinear resize to its size), and the conversion is listed; --no-convert refuses
them instead. Writes <nnn>-<image>.png, grid.png and explanations.csv (image, predicted,
probability, true, correct, converted) to --output-dir.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..cli import JobFlags, command
from ..config import JobConfig
from ..data.user_images import collect, read_for_model
from ..home import smoot_home

FLAGS = JobFlags("explain.py", __doc__, ("explain", ("tracking", "uri")))


def explain(cfg: JobConfig) -> int:
    from ..evaluation.attribution import parse_methods
    from ..evaluation.explain import check_methods, explain_images, load_model_to_explain

    e = cfg.explain
    methods = check_methods(parse_methods(e.methods))
    items = collect(e.images, e.limit)  # before the model: a wrong path costs nothing
    run = load_model_to_explain(e.run, cfg.tracking.uri)
    spec = run.spec
    images = read_for_model(items, spec.channels, spec.image_size, e.convert)
    out = Path(e.output_dir or smoot_home() / "explanations" /
               f"{run.name}-{time.strftime('%Y%m%d-%H%M%S')}").expanduser()
    rows = explain_images(run, images, methods, out)
    width = max(len(Path(r["image"]).name) for r in rows)
    print(f"{run.name} ({spec.title}, {run.cfg.method.name}): {len(rows)} image(s)")
    for r in rows:
        true = f"  true {r['true']}" if r["true"] else ""
        note = f"  (converted {r['converted']})" if r["converted"] else ""
        print(f"  {Path(r['image']).name:<{width}}  {r['predicted']} ({r['probability']:.2f})"
              f"{true}{note}")
    print(f"files: {out}")
    return 0


main = command(FLAGS, explain)
