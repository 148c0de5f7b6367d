"""Sweep search spaces: a small YAML language, validated so that no sampled trial is invalid.

    beta:   {uniform: [0.5, 1.0]}
    lambda: {loguniform: [0.1, 10.0]}
    alpha:  {loguniform: [0.01, 0.5]}
    k_min:  {uniform: [0.05, 0.45]}
    k_max:  {uniform: [0.55, 0.95]}
    k0:     0.5                      # a plain value is fixed

Distributions: uniform, loguniform, choice (a list), or a fixed value. Keys are method settings
(beta, lambda, alpha, k_min, k_max, k0, n, fill), and `method:` names the method every trial
trains (smoot by default; sgt and random_mask take k0, lambda, fill, n). For SMOOT the ranges of
k_min and k_max may not overlap (every k_min < every k_max), and k0 must fit between them, so
every trial can run; this is checked when the file is read, before any trial starts.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import JobConfig, MethodConfig, merge, read_yaml, section_fields, validate
from ..config.presets import SEARCH_SPACE, SEARCH_SPACES
from ..foundations.errors import ConfigError

DISTRIBUTIONS = ("uniform", "loguniform", "choice")
SEARCHABLE = ("beta", "lambda", "alpha", "k_min", "k_max", "k0", "n", "fill")
SMOOT_ONLY = ("beta", "alpha", "k_min", "k_max")  # the controller's settings
MASKING_METHODS = ("smoot", "sgt", "random_mask")  # the methods with settings to search


@dataclass(frozen=True)
class Dimension:
    name: str  # the YAML/CLI name (e.g. "lambda")
    kind: str  # uniform | loguniform | choice | fixed
    values: tuple  # (low, high), the choices, or (value,)

    @property
    def low(self) -> float:
        return min(self.values) if self.kind != "choice" or all(
            isinstance(v, (int, float)) for v in self.values) else math.nan

    @property
    def high(self) -> float:
        return max(self.values) if self.kind != "choice" or all(
            isinstance(v, (int, float)) for v in self.values) else math.nan

    @property
    def searched(self) -> bool:
        return self.kind != "fixed"

    @property
    def field(self) -> str:
        """The MethodConfig field it sets."""
        return section_fields("method")[self.name].name


def _dimension(name: str, spec: Any, source: str) -> Dimension:
    if not isinstance(spec, dict):
        return Dimension(name, "fixed", (spec,))
    if len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise ConfigError(f"{name} in {source} must be a value or one of "
                          f"{{{' | '.join(DISTRIBUTIONS)}: ...}}, got {spec!r}")
    kind, values = next(iter(spec.items()))
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{name}.{kind} in {source} needs a list, got {values!r}")
    if kind in ("uniform", "loguniform"):
        if len(values) != 2 or not all(isinstance(v, (int, float)) for v in values) \
                or not values[0] < values[1]:
            raise ConfigError(f"{name}.{kind} in {source} needs [low, high] with low < high, "
                              f"got {values!r}")
        if kind == "loguniform" and values[0] <= 0:
            raise ConfigError(f"{name}.loguniform in {source} needs low > 0, got {values[0]}")
    return Dimension(name, kind, tuple(values))


@dataclass(frozen=True)
class SearchSpace:
    dimensions: tuple[Dimension, ...]
    method: str = "smoot"  # what every trial trains

    def get(self, name: str) -> Dimension | None:
        return next((d for d in self.dimensions if d.name == name), None)

    @property
    def searched(self) -> list[Dimension]:
        return [d for d in self.dimensions if d.searched]


def _bounds(space: SearchSpace, name: str, default: float) -> tuple[float, float]:
    d = space.get(name)
    return (default, default) if d is None else (d.low, d.high)


def _check_method_values(space: SearchSpace, source: str) -> None:
    """Every value each dimension can take passes the method's own range checks."""
    defaults = MethodConfig()
    types = typing.get_type_hints(MethodConfig)
    if space.method != "smoot":
        unread = [d.name for d in space.dimensions if d.name in SMOOT_ONLY]
        if unread:
            raise ConfigError(f"{unread[0]} in {source} is a SMOOT setting that "
                              f"{space.method} does not read; remove it or set method: smoot")
    for d in space.dimensions:
        if d.kind in ("uniform", "loguniform") and types[d.field] is not float:
            raise ConfigError(f"{d.name} in {source} takes {types[d.field].__name__} values: "
                              f"use {{choice: [...]}} or a fixed value")
        for value in (d.values if d.kind == "choice" else (d.low, d.high)):
            cfg = merge(JobConfig(), {"method": {d.name: value, "name": "sgt"}}, source)
            if d.name not in ("k_min", "k_max", "k0") or space.method != "smoot":
                validate(cfg)
    if space.method != "smoot":
        return
    k_min_lo, k_min_hi = _bounds(space, "k_min", defaults.k_min)
    k_max_lo, k_max_hi = _bounds(space, "k_max", defaults.k_max)
    k0_lo, k0_hi = _bounds(space, "k0", defaults.k0)
    if not (0 <= k_min_lo and k_max_hi <= 1):
        raise ConfigError(f"k_min and k_max in {source} are fractions and must lie in [0, 1]")
    if not k_min_hi < k_max_lo:
        raise ConfigError(f"in {source}, the k_min range (up to {k_min_hi}) must lie below the "
                          f"k_max range (from {k_max_lo}), so that every trial has k_min < k_max")
    if not (k_min_hi <= k0_lo and k0_hi <= k_max_lo):
        raise ConfigError(f"in {source}, k0 (from {k0_lo} to {k0_hi}) must lie between the "
                          f"k_min range (up to {k_min_hi}) and the k_max range (from {k_max_lo})")


def check_space_fits(space: SearchSpace, classes: int, title: str) -> None:
    """Every value of n a trial can draw counts at most the data's classes (the label and n - 1
    runner-ups), as --top-n alone is checked: refused before Ray starts, not in a trial."""
    d = space.get("n")
    if d is None or space.method != "smoot":
        return
    top = d.high
    if top > classes:
        raise ConfigError(f"n in the search space takes {top:g}, more than the {classes} classes "
                          f"of {title}; give values of {classes} or fewer")


def search_space_file(name: str | Path | None) -> Path:
    """A space's YAML: a named one (configs/search_spaces/<name>.yaml, e.g. tuned_smoot), a
    file path, or (None) the default space."""
    if name is None:
        return SEARCH_SPACE
    named = SEARCH_SPACES / f"{name}.yaml"
    if not str(name).endswith((".yaml", ".yml")) and named.is_file():
        return named
    return Path(name).expanduser()


def load_search_space(path: str | Path | None = None, method: str = "smoot") -> SearchSpace:
    """The space in `path` (a file, a named space, default: the packaged one); its trials train
    the method the file names (`method: sgt`), else `method` (the sweep's --method)."""
    source = str(search_space_file(path))
    raw = read_yaml(source)
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"search space {source} must map settings to distributions")
    method = raw.pop("method", method)
    if method not in MASKING_METHODS:
        raise ConfigError(f"method {method!r} (search space {source}) has no settings to "
                          f"search; use one of {', '.join(MASKING_METHODS)}")
    unknown = [k for k in raw if k not in SEARCHABLE]
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r} in search space {source}; "
                          f"searchable: {', '.join(SEARCHABLE)}")
    if not raw:
        raise ConfigError(f"search space {source} names a method but no setting to search")
    space = SearchSpace(tuple(_dimension(k, v, source) for k, v in raw.items()), method)
    _check_method_values(space, source)
    return space
