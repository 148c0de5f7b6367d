"""Train an image classifier with traditional training, SGT or SMOOT.

With no arguments: SMOOT on Fashion-MNIST with the papers' CNN, 2 epochs, on 2 local Ray Train
workers, tracked in the local MLflow store. Examples:

  python jobs/train.py --dataset fashion_mnist --method smoot --epochs 1 --train-subset 4000 --workers 0
  python jobs/train.py --config configs/mnist.yaml --epochs 100 --workers 4 --use-gpu
  ray job submit --working-dir . -- python jobs/train.py --workers 2 --tracking-uri http://mlflow:5000
  python jobs/train.py --run-name my-run ...      # run it again to continue from its last epoch
"""

from __future__ import annotations

from typing import Any

from .flags import JobFlags, command
from ..config import JobConfig
from ..training.summary import paper_row

FLAGS = JobFlags("train.py", __doc__, ("data", "model", "method", "train", "run", "tracking"),
                 config_file=True)


def where_to_look(summary: dict[str, Any]) -> str:
    lines = [f"run folder: {summary['run_dir']}"]
    ml = summary.get("mlflow")
    if ml:
        # the UI's command was printed when the run began (train_job): once is enough
        lines.append(f"MLflow: run {ml['run_id']} in {ml['tracking_uri']}")
    return "\n".join(lines)


def train(cfg: JobConfig) -> int:
    from ..workflows.train import run_training

    summary = run_training(cfg)  # also writes --summary-json
    print(f"\n{paper_row(summary)}\n\n{where_to_look(summary)}\n({summary['wall_time_s']:.1f} s)")
    return 0


main = command(FLAGS, train)
