"""Ray Train callbacks that run on the controller, the one process that writes to MLflow."""

from __future__ import annotations

from ray.train import UserCallback

from ..tracking import MlflowRun


class MlflowEpochLogger(UserCallback):
    """Logs each reported epoch to the run's MLflow run (never from the workers)."""

    def __init__(self, tracker: MlflowRun):
        self.tracker = tracker

    def after_report(self, run_context, metrics, checkpoint) -> None:
        first = metrics[0] if metrics else {}
        if "epoch" not in first:
            return
        try:
            self.tracker.log_epoch(first)
        except Exception as err:  # tracking trouble must not kill the training run
            print(f"warning: MLflow logging failed ({type(err).__name__}: {err})", flush=True)
