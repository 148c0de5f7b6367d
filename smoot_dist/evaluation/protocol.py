"""What an evaluation measured, as a value: its protocol, and the id that names its record.

Two evaluations with the same protocol (metrics, attribution methods in their order, number of
test images, fill of removed pixels, saliency target, seed, the battery's settings) give the same
numbers, so they are one record; any difference makes another record, in its own folder
`<run>/evaluation/<protocol id>/` and under its own MLflow keys `<protocol id>/<key>`. The one
exception to the prefix is the training run's closing evaluation (Grad and Random MoRF AUC on
`--eval-images` images): its keys stay `auc_grad` and `auc_random` on the run's last epoch, the
numbers the run's own table prints. It is a protocol of its own (`closing-...`): each of its
ranks draws Random's values from its own seed, so its Random AUC depends on the ranks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ..foundations.choices import choose_names, split_names
from ..foundations.errors import ConfigError
from ..metrics import decoy_metrics, drop_metrics, metric_names, settings_of

DEFAULT_METRICS = ("morf", "lerf")
CLOSING_METHODS = ("grad", "random")  # what every training run's closing evaluation measures


def parse_metrics(text: str | list[str] | tuple[str, ...], flag: str = "--metrics",
                  decoy: bool = True) -> tuple[str, ...]:
    """Metric names from a comma list, in the registry's order; 'all': every one (`decoy`
    False: every one but those that need a decoy dataset)."""
    names, known = split_names(",".join(text) if not isinstance(text, str) else text), metric_names()
    if names == ["all"]:
        return tuple(m for m in known if decoy or m not in decoy_metrics())
    if not names:
        raise ConfigError(f"{flag} names no metric; choose from: {', '.join(known)} (or all)")
    chosen = choose_names(",".join(names), known, "metric", flag, " (or all)")
    return tuple(m for m in known if m in chosen)


@dataclass(frozen=True)
class Protocol:
    metrics: tuple[str, ...]
    methods: tuple[str, ...]  # in the given order: each method's draws are seeded by its place
    images: int
    fill: str = "background"
    saliency_target: str = "logit"
    seed: int | None = 0  # None: each run's own training seed (the closing evaluation's)
    settings: dict[str, Any] = field(default_factory=dict)  # the battery's, where it counts
    closing_ranks: int | None = None  # the training run's closing evaluation, on this many ranks
    batch_size: int = 500  # the draws are seeded per batch: another size, other noise

    def __hash__(self) -> int:
        return hash(self.id)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["metrics"], d["methods"] = list(self.metrics), list(self.methods)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Protocol":
        return cls(tuple(d["metrics"]), tuple(d["methods"]), int(d["images"]),
                   d.get("fill", "background"), d.get("saliency_target", "logit"),
                   d.get("seed", 0), dict(d.get("settings") or {}), d.get("closing_ranks"),
                   int(d.get("batch_size", 500)))

    @property
    def closing(self) -> bool:
        return self.closing_ranks is not None

    @property
    def id(self) -> str:
        """Readable where it matters (images, fill, seed), unique by a digest of the whole."""
        digest = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
        if self.closing:
            return f"closing-{self.images}img-{digest}"
        return f"{self.images}img-{self.fill}-s{self.seed}-{digest}"

    def key(self, name: str) -> str:
        """The MLflow key of one of this evaluation's numbers."""
        return name if self.closing else f"{self.id}/{name}"

    def describe(self) -> str:
        """The protocol in words, for every table and figure that shows its numbers."""
        what = ("the training run's closing evaluation" if self.closing else
                f"metrics {', '.join(self.metrics)}")
        target = "" if self.saliency_target == "logit" else f", {self.saliency_target} target"
        seed = "the run's seed" if self.seed is None else f"seed {self.seed}"
        return (f"{self.short()}{target}, {seed}; "
                f"{what}; attributions {', '.join(self.methods)}")

    def short(self) -> str:
        """Images and fill (where pixels are removed): what a table's caption states."""
        fill = f", {self.fill} fill" if self.fill != "none" else ""
        return f"{self.images:,} test images{fill}"


def make_protocol(metrics: tuple[str, ...], methods: list[str] | tuple[str, ...], images: int, *,
                  fill: str = "background", saliency_target: str = "logit", seed: int = 0,
                  options: Any = None, batch_size: int = 500) -> Protocol:
    """The protocol of an evaluation (jobs/evaluate.py); `options`: the battery's settings
    (a BatteryOptions), of which only those the named metrics use belong to the protocol, and
    `fill` only where a drop curve fills removed pixels."""
    settings = {}
    if options is not None:
        for metric in metrics:
            for name in settings_of(metric):
                settings[name] = getattr(options, name)
    uses_fill = any(m in drop_metrics() for m in metrics)
    return Protocol(tuple(m for m in metric_names() if m in metrics), tuple(methods), images,
                    fill if uses_fill else "none", saliency_target, seed, settings,
                    batch_size=batch_size)


def closing_protocol(images: int, ranks: int) -> Protocol:
    """Every run's closing evaluation (workflows/final_evaluation.py): Random's draws come from the
    run's own seed and rank, so runs of one configuration share this protocol across seeds."""
    return Protocol(("morf",), CLOSING_METHODS, images, seed=None, closing_ranks=max(ranks, 1))
