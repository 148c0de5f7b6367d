"""Ray Train callbacks that run on the controller, the one process that writes to MLflow and
tells the driver what each epoch did."""

from __future__ import annotations

from typing import Any

from ray.train import UserCallback

from ..runs.tracking import MlflowRun, replay_note
from ..training.trainer import format_epoch


def epoch_lines(flat: dict[str, Any], epochs: int, second: str = "kl",
                replay: tuple[str, frozenset[int]] | None = None) -> list[str]:
    """The console lines of one reported epoch (a resume note first, when it is the first epoch
    after a restart); `second`: the name of the method's second term (format_epoch); `replay`:
    (MLflow run id, the epochs it held when the job began), to say after a resume note which of
    them are trained again (runs.tracking.replay_note)."""
    m = dict(flat, epoch=int(flat["epoch"]), k={"min": int(flat["k_min"]), "median": flat["k_median"],
                      "max": int(flat["k_max"]), "mean_fraction": flat["k_mean_fraction"]})
    lines = [flat["skipped"]] if flat.get("skipped") else []  # a damaged checkpoint's warning
    if "resumed_after" in flat:
        lines.append(f"resumed after epoch {int(flat['resumed_after'])} on "
                     f"{int(flat['workers'])} worker(s)")
        note = replay_note(*replay, int(flat["resumed_after"])) if replay else None
        lines += [note] if note else []
    return lines + [format_epoch(m, epochs, second)]


class EpochRelay(UserCallback):
    """Puts each reported epoch's console lines on a queue the driver prints from: Ray's own
    forwarding of worker output (per-report dumps, prefixes, colours) stays off."""

    def __init__(self, queue, epochs: int, second: str = "kl",
                 replay: tuple[str, frozenset[int]] | None = None):
        self.queue, self.epochs, self.second = queue, epochs, second
        # said once, at the job's own resume (a later restart's epochs are this job's own)
        self.replay = replay

    def after_report(self, run_context, metrics, checkpoint) -> None:
        first = metrics[0] if metrics else {}
        if "epoch" in first:
            for line in epoch_lines(first, self.epochs, self.second, self.replay):
                self.queue.put(line)
            if "resumed_after" in first:
                self.replay = None


class MlflowEpochLogger(UserCallback):
    """Logs each reported epoch to the run's MLflow run (never from the workers); a warning
    about a store that stopped answering goes to the driver's console through `relay`."""

    def __init__(self, tracker: MlflowRun, relay=None):
        self.tracker, self.relay = tracker, relay

    def after_report(self, run_context, metrics, checkpoint) -> None:
        first = metrics[0] if metrics else {}
        if "epoch" not in first:
            return
        # tracking trouble must not kill the training run: a warning, and the run folder's
        # history is logged when the same command runs again
        self.tracker.attempt(f"epoch {int(first['epoch'])}", self.tracker.log_epoch, first,
                             say=self.relay.put if self.relay is not None else None)
