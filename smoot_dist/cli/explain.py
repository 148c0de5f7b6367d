"""Explain your own images with a trained run: the model's prediction (class, probability) and
the saliency of that prediction, one PNG per image (the input, the saliency over it, the map
with its colour bar) and a grid of them.

  python jobs/explain.py ~/smoot_dist/runs/fashion_mnist-smoot-20261128-070056 shoe.png bag.jpg
  python jobs/explain.py fashion_mnist-smoot-20261128-070056 ~/photos/     # a run name, a folder
  python jobs/explain.py RUN ~/labelled/ --methods grad,integrated_gradients  # <class>/<image>: true class too
  python jobs/explain.py 3f8a825d35a64fc786e3f323e6934f05 img.png            # an MLflow run id
  python jobs/explain.py models:/fmnist-smoot/1 img.png                      # a registered model
  python jobs/explain.py RUN img.png --storage-path s3://bucket/runs         # a run on object storage

Images of another size or channel count are converted as the run's dataset requires (grey or
colour, a bilinear resize to its size), and the conversion is listed; --no-convert refuses
them instead; 16-bit images are scaled to 8 bits by their depth (listed too). Writes
<nnn>-<image>.png, grid.png and explanations.csv (image, predicted, probability, true, correct,
converted) to --output-dir, which must be new or empty and outside the images: the files are
made in a temporary sibling and renamed into place when complete, never over a file of yours.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from .flags import JobFlags, command
from ..config import JobConfig
from ..data.user_images import collect, read_for_model
from ..foundations.files import StagedFolder
from ..foundations.home import output_dir

FLAGS = JobFlags("explain.py", __doc__, ("explain", ("tracking", "uri"), ("run", "storage_path")))


def _say_what_was_left(found, limit: int, left_out: list[str]) -> None:
    if found.found > len(found.items):
        print(f"note: --limit {limit}: explaining the first {len(found.items)} of "
              f"{found.found} images", flush=True)
    if found.loose:
        print(f"note: {found.loose} image(s) beside the class subfolders have no class: explained "
              f"without a true class", flush=True)
    if left_out:
        print(f"note: --methods all leaves out {', '.join(left_out)} (they need reference "
              f"images of the run's data)", flush=True)


def explain(cfg: JobConfig) -> int:
    from ..attribution import parse_methods
    from ..workflows.explain import (BATCH_IMAGES, check_methods, explain_images,
                                      load_model_to_explain)

    e = cfg.explain
    methods, left_out = check_methods(parse_methods(e.methods),
                                      chosen_all=e.methods.strip() in ("all", ""))
    found = collect(e.images, e.limit)  # before the model: a wrong path costs nothing
    given = tuple(Path(p) for p in e.images)
    # A given --output-dir is checked before the model is loaded; the default one (named after
    # the run) as soon as the run's name is known, still before any image is explained.
    given_folder = StagedFolder(Path(e.output_dir), "--output-dir", given) if e.output_dir else None
    with given_folder or contextlib.nullcontext():
        run = load_model_to_explain(e.run, cfg.tracking.uri, cfg.run.storage_path)
    staged = given_folder or StagedFolder(
        output_dir("explanations", f"{run.name}-{time.strftime('%Y%m%d-%H%M%S')}", fresh=True),
        "the output folder", given)
    spec = run.spec
    _say_what_was_left(found, e.limit, left_out)
    total = len(found.items)
    progress = (lambda done: print(f"  explained {done}/{total} images", flush=True)
                ) if total > BATCH_IMAGES else None
    with staged:
        rows = explain_images(
            run, found.items, lambda items: read_for_model(items, spec.channels, spec.image_size,
                                                           e.convert),
            methods, staged.staging, progress)
        out = staged.publish()
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
