"""Every metric an evaluation can measure, declared once, with all that the rest of the project
reads of it: its name (what --metrics takes), its family, its help line, the columns it records
(key, table title, which way is better, per attribution method or not), the battery settings
its numbers depend on, and the function that computes it on one batch.

The family modules declare their metrics with `register_metric` (metrics/__init__.py imports
them in the order every table shows them); the protocol, `--help`, the evaluation record,
MLflow's keys, compare's columns and the results pages read them from here, so a new metric is
one declaration. A declaration's numbers are sums over images: the battery adds the values its
function returns for each image of a batch (evaluation/battery.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..attribution.registry import Attribute
from ..data.decoy import Decoy
from ..foundations.catalog import DatasetSpec
from ..foundations.choices import look_up



@dataclass(frozen=True)
class Column:
    """One number a metric records, per image summed (and then averaged) by the battery."""
    key: str  # in the record and in MLflow: `<key>_<method>`, or `<key>` when not per method
    title: str | None = None  # its title as a table column; None: in the record only
    higher_is_better: bool | None = None  # the direction tables and claims state
    per_method: bool = True  # one value per attribution method, or one for the model
    curve: bool = False  # one value per step (MPRT's curves), not a number
    percent: bool = False  # a share (of the images, of a map), shown in tables as a percentage
    last_of: str | None = None  # the last value of this curve column (MPRT's scalar)


@dataclass(frozen=True)
class Batch:
    """What a metric sees of one batch of test images."""
    model: nn.Module  # in eval mode; what the attributions differentiate
    classifier: nn.Module  # the model itself (its logits)
    raw: torch.Tensor  # uint8 (B, C, H, W)
    x: torch.Tensor  # normalised
    y: torch.Tensor
    mask: torch.Tensor  # (B, H*W) bool: the object (localisation)
    spec: DatasetSpec
    options: Any  # BatteryOptions: the settings a protocol records
    mean: torch.Tensor
    std: torch.Tensor
    seed: int  # the evaluation's
    draw: Callable[[int], torch.Generator]  # a generator (and Captum's) seeded for a stream
    decoy: Decoy | None = None  # a decoy dataset's patches and other test views (data/decoy.py)


@dataclass(frozen=True)
class MethodBatch:
    """A batch and one attribution method's maps of it."""
    batch: Batch
    method: str
    attribute: Attribute  # the method on batch.model
    attributor: Callable[[nn.Module], Attribute]  # the method on another model (MPRT)
    a: torch.Tensor  # attribute(x, y), (B, H*W)
    draw: Callable[[int], torch.Generator]  # seeded for (stream, this method, this batch)


Values = dict[str, torch.Tensor]  # column key -> per-image values (the last axis: images)


@dataclass(frozen=True)
class Metric:
    name: str
    family: str  # faithfulness, randomisation, localisation, robustness, complexity, model robustness
    help: str  # a few words for --help
    columns: tuple[Column, ...] = ()
    settings: tuple[str, ...] = ()  # the BatteryOptions fields its numbers depend on
    per_batch: Callable[[Batch], Values] | None = None  # what it measures of the model
    per_method: Callable[[MethodBatch], Values] | None = None  # of each method's maps
    drop_curve: bool = False  # a removal order of the accuracy-drop curves (faithfulness/drop.py)
    needs_decoy: bool = False  # measures a decoy dataset's patches or views; refused on other data


_METRICS: dict[str, Metric] = {}


def register_metric(metric: Metric) -> Metric:
    """Declare a metric; its name and its column keys must be new."""
    if metric.name in _METRICS:
        raise ValueError(f"metric {metric.name!r} is declared twice")
    taken = {c.key for m in _METRICS.values() for c in m.columns}
    if clash := taken & {c.key for c in metric.columns}:
        raise ValueError(f"metric {metric.name!r}: column(s) {sorted(clash)} are another's")
    _METRICS[metric.name] = metric
    return metric


def metric_names() -> tuple[str, ...]:
    """Every metric, in the order tables show them (the declarations' order)."""
    return tuple(_METRICS)


def drop_metrics() -> tuple[str, ...]:
    return tuple(n for n, m in _METRICS.items() if m.drop_curve)


def battery_metrics() -> tuple[str, ...]:
    return tuple(n for n, m in _METRICS.items() if not m.drop_curve)


def decoy_metrics() -> tuple[str, ...]:
    return tuple(n for n, m in _METRICS.items() if m.needs_decoy)


def get_metric(name: str) -> Metric:
    return look_up(_METRICS, name, "metric")


def columns() -> list[tuple[Metric, Column]]:
    """Every recorded column, with its metric, in declaration order."""
    return [(m, c) for m in _METRICS.values() for c in m.columns]


def table_columns() -> list[tuple[str, str, str]]:
    """(family, key, title) of every column a table shows, in declaration order."""
    return [(m.family, c.key, c.title) for m, c in columns() if c.title and not m.drop_curve]


def higher_is_better(key: str) -> bool:
    """The direction of a column (or of a metric, by its first column): False where unknown."""
    for m, c in columns():
        if key in (c.key, m.name) and c.higher_is_better is not None:
            return c.higher_is_better
    return False


def has_direction(key: str) -> bool:
    """False for a column declared without one (a reference, such as the accuracy with the
    shortcut intact), True otherwise."""
    return next((c.higher_is_better is not None for _, c in columns() if c.key == key), True)


def method_free_keys() -> tuple[str, ...]:
    return tuple(c.key for _, c in columns() if not c.per_method)


def curve_keys() -> tuple[str, ...]:
    return tuple(c.key for _, c in columns() if c.curve)


def percent_keys() -> frozenset[str]:
    """The columns that are shares (of the images, of a map), which tables show as percentages."""
    return frozenset(c.key for _, c in columns() if c.percent)


def settings_of(metric: str) -> tuple[str, ...]:
    return _METRICS[metric].settings if metric in _METRICS else ()


def help_line() -> str:
    """The metrics as --help lists them: `morf, lerf (faithfulness: ...), ...`."""
    return ", ".join(f"{n} ({m.help})" for n, m in _METRICS.items())

