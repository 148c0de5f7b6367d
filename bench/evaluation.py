#!/usr/bin/env python
"""Throughput of the accuracy-drop (MoRF) evaluation per attribution method: images per second
for the whole curve (attribution + 10 removal levels), and the time for 10k test images.

  python bench/evaluation.py --images 500            # CPU here
  python bench/evaluation.py --device cuda --images 10000
  python bench/evaluation.py --workers 2 --methods grad,deeplift_shap --images 1000
      # fanned out over Ray: 1 task vs 2 tasks (1 CPU each), same curves, wall time ratio
"""

from __future__ import annotations

import argparse


from common import describe, print_table, quick_model, write_json

from smoot_dist.config import DataConfig
from smoot_dist.data.loading import load_splits
from smoot_dist.training.trainer import resolve_device
from smoot_dist.attribution import attribution_methods, parse_methods
from smoot_dist.attribution import title as method_title
from smoot_dist.metrics.faithfulness.drop import accuracy_drop


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--images", type=int, default=500, help="test images to evaluate")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--methods", default=",".join(attribution_methods()))
    p.add_argument("--train-subset", type=int, default=5000,
                   help="training images of the quick model's one epoch")
    p.add_argument("--json", help="also write the table to this JSON file")
    p.add_argument("--workers", type=int, default=0,
                   help="also run it on Ray with 1 and with this many tasks, side by side")
    args = p.parse_args()
    device = resolve_device(args.device)
    cfg, model = quick_model("mnist", args.device, args.train_subset,
                             test_subset=min(args.images, 10000))
    splits = load_splits(DataConfig("mnist", test_subset=args.images))
    methods = parse_methods(args.methods)
    curves = accuracy_drop(model, splits.test, splits.spec, methods, device=device,
                           batch_size=args.batch_size, progress=False)
    rows = [[method_title(m), curves.seconds[m], args.images / curves.seconds[m],
             10000 * curves.seconds[m] / args.images, curves.auc[m]] for m in methods]
    print(f"accuracy-drop evaluation, MNIST CNN, {args.images} images, batch {args.batch_size}, "
          f"{describe(device)}")
    print_table(["method", "seconds", "images/s", "s per 10k", "AUC"], rows)
    print("target: 10k images with Grad <= 10 s on GPU")
    write_json(args.json, device=describe(device), rows=rows,
               figures={f"{r[0]} s per 10k": round(r[3], 2) for r in rows})
    if args.workers:
        _on_ray(cfg, model, methods, args)


def _on_ray(cfg, model, methods, args) -> None:
    import time
    from dataclasses import replace

    from smoot_dist.launch.ray_evaluation import measure_on_ray

    cfg = replace(cfg, data=replace(cfg.data, train_subset=None, test_subset=args.images))
    walls, curves = {}, {}
    for workers in (1, args.workers):
        start = time.perf_counter()
        curves[workers], _ = measure_on_ray(
            cfg, model, methods, ("morf",), args.images, workers=workers, use_gpu=False,
            batch_size=args.batch_size).results(args.images, "background")
        walls[workers] = time.perf_counter() - start
    same = all(curves[1].accuracy[m] == curves[args.workers].accuracy[m] for m in methods)
    rows = [[method_title(m), curves[1].seconds[m], curves[args.workers].seconds[m],
             curves[1].seconds[m] / curves[args.workers].seconds[m]] for m in methods]
    print(f"\non Ray, {args.images} images: 1 task vs {args.workers} tasks (1 CPU each); "
          f"curves identical: {same}")
    print_table(["method", "1 task s", f"{args.workers} tasks s (slowest)", "speed-up"], rows)
    print(f"whole job (Ray tasks started, data and model loaded in each): {walls[1]:.1f} s vs "
          f"{walls[args.workers]:.1f} s = {walls[1] / walls[args.workers]:.2f}x")


if __name__ == "__main__":
    main()
