"""Reproduce the paper's table for one dataset: train traditional, SGT, SMOOT and the random-mask
ablation (--methods) with the dataset's Table 1 preset for several seeds, evaluate each
(accuracy-drop AUC), print the table.

  python jobs/reproduce.py --dataset fashion_mnist --epochs 1 --train-subset 4000
  python jobs/reproduce.py --dataset mnist --epochs 100 --seeds 3 --workers 0 --device cuda \\
      --attributions all --no-tracking                # one GPU, no Ray, no MLflow

Every run is a normal training run (its own folder and MLflow run, tagged reproduction=<id>);
the table, curves and saliency figure go to --output-dir.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..cli import JobFlags, command
from ..config import METHODS, JobConfig, merge, validate
from ..errors import ConfigError

FLAGS = JobFlags("reproduce.py", __doc__,
                 (("data", "dataset", "train_subset", "test_subset"), ("train", "epochs", "device"),
                  ("run", "workers", "use_gpu", "storage_path", "progress"),
                  ("tracking", "uri", "enabled"), "reproduce"),
                 defaults={"train": {"epochs": 100}})  # the paper's schedule


def reproduce(cfg: JobConfig) -> int:
    from ..evaluation.attribution import parse_methods
    from ..evaluation.evaluate_run import evaluate_run
    from ..evaluation.report import compare_and_report
    from ..evaluation.trained_run import load_trained
    from ..home import output_dir
    from ..training.run import run_training

    r, dataset = cfg.reproduce, cfg.data.dataset
    attributions = parse_methods(r.attributions)
    methods = [m.strip() for m in r.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ConfigError(f"unknown training method(s) {', '.join(unknown) or '(none given)'} in "
                          f"--methods; choose from: {', '.join(METHODS)}")
    if "grad" not in attributions:
        attributions.insert(0, "grad")
    tag = time.strftime("%Y%m%d-%H%M%S")
    out = Path(r.output_dir) if r.output_dir else output_dir("reproductions", f"{dataset}-{tag}")
    start = time.perf_counter()
    folders = []
    for seed in range(r.seeds):
        for method in methods:
            run_cfg = merge(cfg, {"method": {"name": method}, "train": {"seed": seed},
                                  "run": {"run_name": f"repro-{tag}-{dataset}-{method}-s{seed}"}},
                            "the reproduction")
            validate(run_cfg)
            print(f"\n== {method}, seed {seed}", flush=True)
            summary = run_training(run_cfg, tags={"reproduction": tag})
            run = load_trained(summary["run_dir"])
            evaluate_run(run, attributions, test_subset=cfg.data.test_subset,
                         device=cfg.train.device, tracking=cfg.tracking.enabled,
                         progress=cfg.run.progress, orders=("morf", "lerf"))
            folders.append(Path(summary["run_dir"]))
    print(f"\n== {dataset}: {r.seeds} seed(s) x {len(methods)} methods, {cfg.train.epochs} "
          f"epoch(s), {time.perf_counter() - start:.0f} s\n")
    compare_and_report(out, folders=folders, auc_method="grad")
    return 0


main = command(FLAGS, reproduce)
