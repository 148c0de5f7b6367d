"""Everything one evaluation measures on a share of the test batches, as sums that add up.

The drop curves' correct counts (drop.py) and the battery's sums (battery.py) are both seeded per
batch, so the batches can be dealt to any number of processes (launch/ray_evaluation.py) and the
sums added: 0 and N workers give the same numbers, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..foundations.catalog import DatasetSpec
from ..data.loading import ImageTensors
from ..foundations.progress import Progress
from .battery import BatteryOptions, Sums, battery_sums, means
from ..metrics.faithfulness.drop import Counts, DropCurves, curves_from_counts, drop_counts
from ..metrics import battery_metrics, drop_metrics


@dataclass
class Measurement:
    counts: Counts = field(default_factory=dict)  # the drop curves' correct counts
    seconds: dict[str, float] = field(default_factory=dict)  # per attribution method (drop curves)
    sums: Sums = field(default_factory=dict)  # the battery's

    def add(self, other: "Measurement") -> "Measurement":
        """The sums of both shares; seconds: the slower share's (they ran side by side)."""
        counts = {k: self.counts.get(k, 0) + c for k, c in other.counts.items()}
        sums = {k: self.sums.get(k, 0) + s for k, s in other.sums.items()}
        seconds = {k: max(self.seconds.get(k, 0.0), s) for k, s in other.seconds.items()}
        return Measurement({**self.counts, **counts}, {**self.seconds, **seconds},
                           {**self.sums, **sums})

    def cpu(self) -> "Measurement":
        return Measurement({k: c.cpu() for k, c in self.counts.items()}, self.seconds,
                           {k: s.cpu() for k, s in self.sums.items()})

    def results(self, num_images: int, fill: str) -> tuple[DropCurves | None, dict]:
        """The drop curves (None without a drop metric) and the battery's means."""
        curves = None
        if self.counts:
            curves = curves_from_counts(self.counts, num_images, fill)
            curves.seconds = self.seconds
        return curves, (means(self.sums) if self.sums else {})


def measure(model: nn.Module, data: ImageTensors, spec: DatasetSpec, methods: list[str],
            metrics: tuple[str, ...], *, device: torch.device, batch_size: int = 500,
            seed: int = 0, fill: str = "background", saliency_target: str = "logit",
            options: BatteryOptions = BatteryOptions(), starts: list[int] | None = None,
            masks: torch.Tensor | None = None, progress: Progress = None) -> Measurement:
    orders = tuple(m for m in metrics if m in drop_metrics())
    battery = [m for m in metrics if m in battery_metrics()]
    out = Measurement()
    if orders:
        out.counts, out.seconds = drop_counts(
            model, data, spec, methods, device=device, batch_size=batch_size, seed=seed,
            orders=orders, fill=fill, saliency_target=saliency_target, starts=starts,
            progress=progress)
    if battery:
        out.sums = battery_sums(model, data, spec, methods, battery, device=device,
                                batch_size=batch_size, seed=seed, saliency_target=saliency_target,
                                options=options, starts=starts, masks=masks, progress=progress)
    return out
