"""Typed, validated configuration: one small dataclass per component.

Values are layered, later layers winning:
  dataclass defaults  <  dataset preset (configs/<dataset>.yaml, the paper's Table 1)
  <  a user YAML file (--config)  <  command-line flags.
Every layer goes through the same typed merge, so a YAML file with an unknown key or a
wrong type fails the same way as a bad flag: one ConfigError line.
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

METHODS = ("traditional", "sgt", "smoot")
FILLS = ("random", "background", "mean")
OPTIMIZERS = ("adadelta", "sgd", "adam", "adamw")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16")

# YAML/CLI names that are not valid Python field names.
FIELD_ALIASES = {"lambda": "lam"}

PRESET_DIR = Path(__file__).resolve().parent.parent / "configs"


@dataclass
class DataConfig:
    dataset: str = "fashion_mnist"
    # None: $SMOOT_DATA_DIR, else ~/.cache/smoot_dist/data (see data.paths).
    root: str | None = None
    # Deterministic, class-balanced subset of the training set (None: all of it).
    train_subset: int | None = None
    # Deterministic, class-balanced subset of the test set (None: all of it).
    test_subset: int | None = None


@dataclass
class ModelConfig:
    # "cnn" (the papers' MNIST CNN) or any timm model name.
    name: str = "cnn"
    # Local file with pretrained weights (timm checkpoints are adapted by timm).
    pretrained: str | None = None
    # Resize inputs to this size in front of the model (None: native dataset size).
    # Masking and saliency stay at the dataset's resolution, as in the paper (P = 1024 on CIFAR).
    input_size: int | None = None
    # Patch size for ViT-style timm models (None: the model's own).
    patch_size: int | None = None


@dataclass
class MethodConfig:
    name: str = "smoot"
    k0: float = 0.5  # initial masking fraction (SGT: the fixed one)
    k_min: float = 0.2  # SMOOT lower bound on k_i
    k_max: float = 0.8  # SMOOT upper bound on k_i
    alpha: float = 0.1  # step of k per unit of the probability change d
    beta: float = 0.95  # weight of the label's change vs the runner-up classes'
    n: int = 5  # top-n: the label plus n-1 runner-up classes
    lam: float = 1.0  # weight of the KL term ("lambda" in YAML and on the CLI)
    fill: str = "random"  # what replaces masked pixels: random | background | mean
    saliency_abs: bool = False  # rank pixels by |gradient| instead of the signed gradient


@dataclass
class TrainConfig:
    epochs: int = 2
    batch_size: int = 256  # global batch (split over workers)
    optimizer: str = "adadelta"
    lr: float = 1.0
    seed: int = 0
    device: str = "auto"
    eval_batch_size: int = 1000
    # Speed options (all off by default; each computes the same thing within a stated tolerance,
    # tests/unit/test_fast_path.py): bf16 autocast, torch.compile, one forward over the clean and
    # masked batch together (BatchNorm would then pool both branches' statistics), channels_last.
    precision: str = "fp32"
    compile: bool = False
    fuse_branches: bool = False
    channels_last: bool = False


@dataclass
class ExperimentConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        out = dataclasses.asdict(self)
        out["method"]["lambda"] = out["method"].pop("lam")
        return out

    def flat(self) -> dict[str, Any]:
        """`section.key -> value`, e.g. for MLflow params."""
        return {f"{s}.{k}": v for s, sec in self.to_dict().items() for k, v in sec.items()}


SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig,
                             "method": MethodConfig, "train": TrainConfig}
_SECTION_TYPES = {name: typing.get_type_hints(cls) for name, cls in SECTIONS.items()}


_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _coerce(section: str, key: str, value: Any, source: str) -> Any:
    """Check `value` against the field's annotation; ints are accepted where floats are."""
    hint = _SECTION_TYPES[section][key]
    optional = type(None) in typing.get_args(hint)
    base = next((t for t in typing.get_args(hint) if t is not type(None)), hint)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{section}.{key} in {source} must not be empty; give {_TYPE_WORDS[base]}")
    ok = (isinstance(value, bool) if base is bool
          else isinstance(value, int) and not isinstance(value, bool) if base is int
          else isinstance(value, (int, float)) and not isinstance(value, bool) if base is float
          else isinstance(value, base))
    if not ok:
        raise ConfigError(f"{section}.{key} in {source} must be {_TYPE_WORDS[base]}, "
                          f"got {value!r}")
    return float(value) if base is float else value


def merge(cfg: ExperimentConfig, layer: dict[str, Any], source: str) -> ExperimentConfig:
    """Return `cfg` with the values of `layer` ({section: {key: value}}) applied."""
    if not isinstance(layer, dict):
        raise ConfigError(f"{source} must be a mapping of sections ({', '.join(SECTIONS)})")
    out = {s: dataclasses.asdict(getattr(cfg, s)) for s in SECTIONS}
    for section, values in layer.items():
        if section not in SECTIONS:
            raise ConfigError(f"unknown section {section!r} in {source}; "
                              f"known sections: {', '.join(SECTIONS)}")
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"section {section!r} in {source} must be a mapping of keys to values")
        for key, value in values.items():
            name = FIELD_ALIASES.get(key, key)
            if name not in out[section]:
                known = ["lambda" if k == "lam" else k for k in out[section]]
                raise ConfigError(f"unknown key {section}.{key} in {source}; "
                                  f"known keys in {section}: {', '.join(known)}")
            out[section][name] = _coerce(section, name, value, source)
    return ExperimentConfig(**{s: SECTIONS[s](**out[s]) for s in SECTIONS})


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist; pass an existing YAML file to --config")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"config file {p} is not valid YAML{at}; fix its syntax") from None
    return data or {}


def preset_path(dataset: str) -> Path:
    return PRESET_DIR / f"{dataset}.yaml"


def build_config(config_file: str | None = None,
                 overrides: dict[str, dict[str, Any]] | None = None) -> ExperimentConfig:
    """Layer defaults, the dataset preset, a YAML file and overrides; then validate."""
    user = read_yaml(config_file) if config_file else {}
    overrides = overrides or {}
    dataset = ((overrides.get("data") or {}).get("dataset")
               or ((user.get("data") or {}) if isinstance(user, dict) else {}).get("dataset")
               or DataConfig.dataset)
    cfg = ExperimentConfig()
    if isinstance(dataset, str) and preset_path(dataset).is_file():
        cfg = merge(cfg, read_yaml(preset_path(dataset)), str(preset_path(dataset)))
    if config_file:
        cfg = merge(cfg, user, str(config_file))
    cfg = merge(cfg, overrides, "the command line")
    validate(cfg)
    return cfg


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


def validate(cfg: ExperimentConfig) -> None:
    """Range checks; each failure is one line that says what to change."""
    from .data.registry import DATASETS  # late: data imports torchvision

    d, mo, me, t = cfg.data, cfg.model, cfg.method, cfg.train
    _check(d.dataset in DATASETS,
           f"unknown dataset {d.dataset!r}; choose one of: {', '.join(DATASETS)}")
    for name in ("train_subset", "test_subset"):
        v = getattr(d, name)
        _check(v is None or v >= 1, f"data.{name} must be a positive number of samples, got {v}")
    _check(me.name in METHODS, f"unknown method {me.name!r}; choose one of: {', '.join(METHODS)}")
    _check(me.fill in FILLS, f"unknown fill {me.fill!r}; choose one of: {', '.join(FILLS)}")
    for name in ("k0", "k_min", "k_max", "alpha", "beta", "lam"):
        v = getattr(me, name)
        flag = "lambda" if name == "lam" else name
        _check(math.isfinite(v), f"{flag} must be a finite number, got {v}")
    for name in ("k0", "k_min", "k_max"):
        v = getattr(me, name)
        _check(0.0 <= v <= 1.0, f"{name} is a fraction of the pixels and must lie in [0, 1], got {v}")
    _check(me.k_min < me.k_max,
           f"k_min ({me.k_min}) must be below k_max ({me.k_max}); set --k-min < --k-max")
    if me.name == "smoot":
        _check(me.k_min <= me.k0 <= me.k_max,
               f"k0 ({me.k0}) must lie within [k_min, k_max] = [{me.k_min}, {me.k_max}] for smoot")
    _check(0.0 <= me.beta <= 1.0, f"beta weighs two changes and must lie in [0, 1], got {me.beta}")
    _check(me.alpha >= 0.0, f"alpha (the step of k) must be >= 0, got {me.alpha}")
    _check(me.lam >= 0.0, f"lambda (the KL weight) must be >= 0, got {me.lam}")
    _check(me.n >= 1, f"n (top-n classes) must be >= 1, got {me.n}")
    _check(t.epochs >= 1, f"epochs must be >= 1, got {t.epochs}")
    _check(t.batch_size >= 1, f"batch_size must be >= 1, got {t.batch_size}")
    _check(t.eval_batch_size >= 1, f"eval_batch_size must be >= 1, got {t.eval_batch_size}")
    _check(math.isfinite(t.lr) and t.lr > 0, f"lr must be a positive number, got {t.lr}")
    _check(t.optimizer in OPTIMIZERS,
           f"unknown optimizer {t.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
    _check(t.device in DEVICES, f"unknown device {t.device!r}; choose one of: {', '.join(DEVICES)}")
    _check(t.seed >= 0, f"seed must be >= 0, got {t.seed}")
    _check(t.precision in PRECISIONS,
           f"unknown precision {t.precision!r}; choose one of: {', '.join(PRECISIONS)}")
    for name in ("input_size", "patch_size"):
        v = getattr(mo, name)
        _check(v is None or v >= 1, f"model.{name} must be a positive number of pixels, got {v}")
