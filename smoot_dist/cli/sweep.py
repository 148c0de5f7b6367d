"""Ray Tune sweep over SMOOT's settings (beta, lambda, the K bounds, alpha, ...).

Each trial is a full training run on Ray Train (TorchTrainer, Train V2: it may use several
workers or GPUs) with its own MLflow run, nested under the sweep's run; ASHA stops weak trials
early on the per-epoch objective.

  python jobs/sweep.py --dataset fashion_mnist --num-samples 4 --epochs 2 --train-subset 3000
  python jobs/sweep.py --search-space my_space.yaml --objective combined --workers-per-trial 2 --use-gpu

Prints and logs a table of the trials, plots the objective against each searched setting, and
writes the best trial's config as a YAML that `jobs/train.py --config` takes as it is.
"""

from __future__ import annotations

import time

from .flags import JobFlags, command
from ..config import JobConfig
from ..sweep.search_space import load_search_space

# The base config every trial starts from, how trials run, where they are tracked, the sweep.
FLAGS = JobFlags("sweep.py", __doc__,
                 ("data", "model", "method", "train", ("run", "use_gpu", "storage_path", "ray_address", "verbose"),
                  "tracking", "sweep"), config_file=True)


def sweep(cfg: JobConfig) -> int:
    from ..sweep.search import run_sweep

    space = load_search_space(cfg.sweep.search_space, cfg.method.name)
    run_sweep(cfg, space, sweep_id=f"sweep-{time.strftime('%Y%m%d-%H%M%S')}")
    return 0


main = command(FLAGS, sweep)
