"""Progress within an epoch: what a log shows between two epoch lines, and the training loss and
accuracy MLflow charts between two epoch points.

An epoch of the main job takes minutes, and outside a terminal (every `ray job submit` log is
one) there is no bar: rank 0 reports at STEP_POINTS evenly spaced steps of each epoch, and at
each 10% the report is also a console line. The loss and accuracy are running means over
what rank 0 has trained this epoch (its shard; the epoch line has the all-reduced values), so a
report costs one host sync, STEP_POINTS times an epoch, not one per step.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable

STEP_POINTS = 20  # reports per epoch: MLflow's step metrics
LINES = 10  # console lines per epoch: about every 10% (none at the end: the epoch line follows)


def report_steps(steps: int, points: int = STEP_POINTS, lines: int = LINES) -> dict[int, bool]:
    """Step (1-based) -> whether its report is also a console line: `points` reports spread
    evenly over `steps` steps (every step where an epoch has fewer), and a line at each 10%."""
    spread = lambda n: {max(1, math.ceil(i * steps / n)) for i in range(1, n + 1)}
    line_at = spread(lines) - {steps}
    return {s: s in line_at for s in sorted(spread(points) | line_at)}


@dataclass
class StepReport:
    epoch: int  # the epoch in progress, 1-based
    epochs: int
    step: int  # steps done in it
    steps: int
    wants_line: bool  # also a console line (report_steps)
    images: int  # trained in this epoch so far, over all ranks
    seconds: float  # since the epoch began
    loss: float  # running mean of the training loss (the CE; rank 0's shard)
    accuracy: float

    @property
    def global_step(self) -> int:
        """The step counted from the run's start: MLflow's x axis for the step metrics."""
        return (self.epoch - 1) * self.steps + self.step

    def line(self) -> str:
        rate = self.images / self.seconds if self.seconds > 0 else 0.0
        eta = (self.steps - self.step) * self.seconds / self.step
        return (f"  epoch {self.epoch}/{self.epochs}  step {self.step}/{self.steps} "
                f"({100 * self.step / self.steps:.0f}%)  {rate:.0f} img/s  ETA {eta:.0f} s  "
                f"loss {self.loss:.4f}  acc {self.accuracy:.4f}")

    def metrics(self) -> dict[str, float]:
        return {"train_ce_step": self.loss, "train_accuracy_step": self.accuracy}

    def to_dict(self) -> dict[str, Any]:
        """What travels through the Ray relay (a plain dict)."""
        return {"step_report": asdict(self)}

    @classmethod
    def from_dict(cls, item: Any) -> "StepReport | None":
        """The report a relay item carries; None for an item that is no report (a line)."""
        if isinstance(item, dict) and "step_report" in item:
            return cls(**item["step_report"])
        return None


def step_sink(lines: bool, log_metrics: Callable[[dict[str, float], int], Any] | None = None
              ) -> Callable[[StepReport], None]:
    """What becomes of rank 0's reports on the process that owns the console and the MLflow
    run: a line about every 10% when `lines` (off a terminal: a bar shows the same on one),
    and `log_metrics(metrics, global_step)` for each report."""
    def sink(report: StepReport) -> None:
        if lines and report.wants_line:
            print(report.line(), flush=True)
        if log_metrics is not None:
            log_metrics(report.metrics(), report.global_step)
    return sink
