"""Every field checked against its own range and choices (from its metadata), then the rules
that join fields; each failure one ConfigError line naming the setting as the user wrote it."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ..foundations.catalog import DECOY, parse_dataset
from ..foundations.errors import ConfigError, shown
from .schema import (ANNOTATION_METHODS, EXPERIMENT_SECTIONS, RUN_NAME, SECTIONS, JobConfig,
                     MethodConfig, external_name, flag_of)


def _label(section: str, f: dataclasses.Field) -> str:
    """How messages name a setting: its config key in the experiment (a section's `name` by
    the section: "unknown method"), its flag elsewhere."""
    if section in EXPERIMENT_SECTIONS:
        return section if f.name == "name" else external_name(f)
    return flag_of(f)


BOUNDS = ("ge", "gt", "le", "lt")
# The largest float32 (torch.finfo(torch.float32).max; bf16's is about the same): a setting
# beyond it becomes inf in the optimizer's step, after the run folder was made.
FLOAT32_MAX = 3.4028234663852886e38


def _bound_rule(meta: dict[str, Any]) -> str:
    if "rule" in meta:
        return meta["rule"]
    ge, gt, le, lt = (meta.get(k) for k in BOUNDS)
    if ge is not None and (le is not None or lt is not None):
        return f"lie in [{ge:g}, {le:g}]" if le is not None else f"lie in [{ge:g}, {lt:g})"
    if gt is not None:
        return "be a positive number" if gt == 0 else f"be > {gt:g}"
    return f"be >= {ge:g}" if ge is not None else f"be <= {le:g}"


def _in_bounds(value: float, meta: dict[str, Any]) -> bool:
    ge, gt, le, lt = (meta.get(k) for k in BOUNDS)
    return ((ge is None or value >= ge) and (gt is None or value > gt)
            and (le is None or value <= le) and (lt is None or value < lt))


def _check_field(section: str, f: dataclasses.Field, value: Any) -> None:
    meta, label = f.metadata, _label(section, f)
    if value is None:
        return
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"unknown {label} {shown(value)}; choose one of: "
                          f"{', '.join(map(str, choices))}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{label} must be a finite number, got {value}")
    if isinstance(value, float) and abs(value) > FLOAT32_MAX:
        raise ConfigError(f"{label} {value:g} does not fit the 32-bit floats training computes "
                          f"in (at most {FLOAT32_MAX:.3g} in size); give a smaller value")
    if any(k in meta for k in BOUNDS) and not _in_bounds(value, meta):
        raise ConfigError(f"{label}{meta.get('gloss', '')} must {_bound_rule(meta)}, got {value}")


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


def _check_section(section: str, values: Any) -> None:
    for f in dataclasses.fields(values):
        _check_field(section, f, getattr(values, f.name))


def _check_method_rules(me: MethodConfig) -> None:
    _check(me.k_min < me.k_max,
           f"k_min ({me.k_min}) must be below k_max ({me.k_max}); set --k-min < --k-max")
    if me.name == "smoot":
        _check(me.k_min <= me.k0 <= me.k_max,
               f"k0 ({me.k0}) must lie within [k_min, k_max] = [{me.k_min}, {me.k_max}] for smoot")


def validate_method(me: MethodConfig) -> None:
    """The method's settings alone, as validate() checks them in a job: for a MethodConfig made
    in the user's own training loop (smoot_dist.method's library API)."""
    _check_section("method", me)
    _check_method_rules(me)


def validate(cfg: JobConfig) -> None:
    """Every field against its own range, then the rules that join fields; one line each."""
    for section in SECTIONS:
        _check_section(section, getattr(cfg, section))
    run = cfg.run
    _check_method_rules(cfg.method)
    parse_dataset(cfg.data.dataset)  # a known name, or imagefolder:/parquet: with a location
    if cfg.data.loader == "stream":
        _check(parse_dataset(cfg.data.dataset)[0] == "parquet",
               f"--data-loader stream reads Parquet shards, not {cfg.data.dataset}; convert it "
               f"with jobs/prepare_data.py, or use --data-loader memory")
        _check(run.workers >= 1, "--data-loader stream runs on Ray Train workers; use --workers 1 "
                                 "or more, or --data-loader memory")
        _check(cfg.data.train_subset is None,
               "--train-subset picks samples from a split in memory; with --data-loader stream, "
               "prepare a smaller dataset instead")
        _check(cfg.data.val_images is None,
               "--val-images holds images out of a split in memory; with --data-loader stream, "
               "use --data-loader memory")
    kind = parse_dataset(cfg.data.dataset)[0]
    if cfg.data.annotation_masks is not None:
        _check(kind == "imagefolder" and cfg.method.name in ANNOTATION_METHODS,
               "--annotation-masks are RRR's annotation of an image folder's training images; "
               "use them with --method rrr on imagefolder:PATH (a decoy dataset brings its own)")
    if cfg.method.name in ANNOTATION_METHODS:
        _check(kind == DECOY or cfg.data.annotation_masks is not None,
               f"--method {cfg.method.name} trains on annotation masks, which {cfg.data.dataset} "
               f"does not carry; use a decoy dataset (decoy_mnist, decoy_fashion_mnist, "
               f"decoy:DATASET), or an image folder with --annotation-masks DIR")
        for flag, on in (("--cuda-graph", cfg.train.cuda_graph), ("--compile", cfg.train.compile)):
            _check(not on, f"{flag} does not take {cfg.method.name}'s double backpropagation "
                           f"(a gradient of a gradient); leave it off")
    _check(not (cfg.train.cuda_graph and cfg.train.compile),
           "--cuda-graph and --compile both rewrite the step; choose one (torch.compile's own "
           "graphs: mode reduce-overhead)")
    if run.max_workers is not None:
        _check(1 <= run.workers <= run.max_workers,
               f"--workers {run.workers}:{run.max_workers} must give 1 <= MIN <= MAX for elastic "
               f"training (or use a fixed --workers N)")
    _check(not (run.use_gpu and run.workers == 0),
           "--use-gpu is for Ray workers; with --workers 0 use --device cuda")
    if run.run_name is not None:
        shown = run.run_name if len(run.run_name) <= 40 else run.run_name[:40] + "..."
        _check(RUN_NAME.fullmatch(run.run_name) is not None,
               f"--run-name {shown!r} cannot name a run folder: use 1 to 100 letters, digits, "
               f"'.', '_' or '-', starting with a letter or digit")
