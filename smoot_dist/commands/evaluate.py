"""Saliency evaluation of a trained run: accuracy-drop (MoRF) curves and their AUC.

For each attribution method, remove 0%, 10%, ..., 90% of each test image's most salient pixels
(filled with the image's background value) and measure test accuracy; AUC is the trapezoid of
accuracy (%) over the removed fraction (lower = more faithful saliency; a flat 100% scores 90).

  python jobs/evaluate.py ~/smoot_dist/runs/fashion_mnist-smoot-20261128-070056
  python jobs/evaluate.py fashion_mnist-smoot-20261128-070056 --methods grad,random
  python jobs/evaluate.py 3f8a825d35a64fc786e3f323e6934f05 --tracking-uri http://mlflow:5000

Writes drop_curves.csv, auc.json and drop_curves.png to <run folder>/evaluation/ and logs
auc_<method> metrics and those files to the run's MLflow run.
"""

from __future__ import annotations

from ..cli import JobFlags, command
from ..config import JobConfig

FLAGS = JobFlags("evaluate.py", __doc__,
                 ("evaluate", ("data", "test_subset"), ("train", "device"),
                  ("tracking", "uri", "enabled"), ("run", "progress")))


def evaluate(cfg: JobConfig) -> int:
    from ..evaluation.attribution import TITLES, parse_methods
    from ..evaluation.evaluate_run import evaluate_run
    from ..evaluation.trained_run import load_trained

    e = cfg.evaluate
    methods = parse_methods(e.methods)
    run = load_trained(e.run, cfg.tracking.uri)
    result = evaluate_run(run, methods, test_subset=cfg.data.test_subset, batch_size=e.batch_size,
                          device=cfg.train.device, seed=e.seed, output_dir=e.output_dir,
                          tracking=cfg.tracking.enabled, progress=cfg.run.progress)
    print("\nmethod | AUC | accuracy (%) at 0%, 10%, ..., 90% removed")
    for m in methods:
        acc = " ".join(f"{a:5.1f}" for a in result["accuracy"][m])
        print(f"{TITLES[m]:>19} | {result['auc'][m]:6.2f} | {acc}")
    print(f"\nfiles: {result['output_dir']}"
          + (f"\nlogged to MLflow run {result['mlflow_run_id']}" if result.get("mlflow_run_id") else ""))
    return 0


main = command(FLAGS, evaluate)
