"""Saliency evaluation of a trained run: accuracy-drop curves (MoRF, LeRF), their AUC and SRG.

For each attribution method, remove 0%, 10%, ..., 90% of each test image's most salient pixels
(MoRF; LeRF: the least salient) and measure test accuracy; AUC is the trapezoid of accuracy (%)
over the removed fraction (a flat 100% scores 90). MoRF AUC: lower = more faithful; LeRF AUC:
higher; SRG = AUC(LeRF) - AUC(MoRF), higher. Removed pixels get the image's background value
(the papers' tables), its mean, or ROAD's noisy linear imputation (--removal-fill road).

  python jobs/evaluate.py ~/smoot_dist/runs/fashion_mnist-smoot-20261128-070056
  python jobs/evaluate.py fashion_mnist-smoot-20261128-070056 --methods grad,random --order morf,lerf
  python jobs/evaluate.py RUN --removal-fill road --order morf,lerf
  python jobs/evaluate.py RUN --workers 4 [--use-gpu]   # the batches fanned out over Ray tasks
  python jobs/evaluate.py 3f8a825d35a64fc786e3f323e6934f05 --tracking-uri http://mlflow:5000

Writes drop_curves.csv, auc.json and drop_curves.png to <run folder>/evaluation/ and logs
auc_<method> (MoRF), lerf_auc_<method> and srg_<method> metrics and those files to the run's
MLflow run.
"""

from __future__ import annotations

from ..cli import JobFlags, command
from ..config import JobConfig

FLAGS = JobFlags("evaluate.py", __doc__,
                 ("evaluate", ("data", "test_subset"), ("train", "device"),
                  ("tracking", "uri", "enabled"),
                  ("run", "progress", "use_gpu", "ray_address", "verbose")))


def evaluate(cfg: JobConfig) -> int:
    from ..evaluation.attribution import parse_methods
    from ..evaluation.morf import parse_orders
    from ..job.evaluate_job import evaluate_run
    from ..evaluation.trained_run import load_trained

    e = cfg.evaluate
    methods = parse_methods(e.methods)
    orders = parse_orders(e.order)
    run = load_trained(e.run, cfg.tracking.uri)
    result = evaluate_run(run, methods, test_subset=cfg.data.test_subset, batch_size=e.batch_size,
                          device=cfg.train.device, seed=e.seed, output_dir=e.output_dir,
                          tracking=cfg.tracking.enabled, progress=cfg.run.progress,
                          orders=orders, fill=e.removal_fill, saliency_target=e.saliency_target,
                          workers=e.workers, use_gpu=cfg.run.use_gpu,
                          ray_address=cfg.run.ray_address, verbose=cfg.run.verbose)
    print(f"\naccuracy (%) with 0%, 10%, ..., 90% of the pixels removed ({e.removal_fill} fill); "
          f"MoRF AUC: lower is better, LeRF AUC and SRG: higher is better")
    print(result["table"])
    print(f"\nfiles: {result['output_dir']}"
          + (f"\nlogged to MLflow run {result['mlflow_run_id']}" if result.get("mlflow_run_id") else ""))
    return 0


main = command(FLAGS, evaluate)
