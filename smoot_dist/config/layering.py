"""Values layered, later layers winning:
  dataclass defaults < a job's own defaults (reproduce: the paper's 100 epochs)
  < the dataset preset (presets/<dataset>.yaml, the paper's Table 1) < a YAML file (--config)
  < command-line flags.
Every layer goes through the same typed merge, so a YAML file with an unknown key or a wrong
type fails like a bad flag: one ConfigError line."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..foundations.catalog import DATASETS, absolute_dataset, decoy_source
from ..foundations.errors import ConfigError, shown
from .presets import preset_path, read_preset
from .schema import SECTIONS, DataConfig, JobConfig, base_type, external_name, section_fields
from .validation import validate
from .yaml_file import read_yaml

_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
               list: "a list of strings"}


def _coerce(section: str, f: dataclasses.Field, value: Any, source: str) -> Any:
    """Check `value` against the field's annotation; ints are accepted where floats are."""
    base, optional = base_type(section, f.name)
    where = f"{section}.{external_name(f)} in {source}"
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where} must not be empty; give {_TYPE_WORDS[base]}")
    ok = (isinstance(value, bool) if base is bool
          else isinstance(value, int) and not isinstance(value, bool) if base is int
          else isinstance(value, (int, float)) and not isinstance(value, bool) if base is float
          else isinstance(value, list) and all(isinstance(v, str) for v in value) if base is list
          else isinstance(value, base))
    if not ok:
        raise ConfigError(f"{where} must be {_TYPE_WORDS[base]}, got {shown(value)}")
    return float(value) if base is float else value


def merge(cfg: JobConfig, layer: dict[str, Any], source: str) -> JobConfig:
    """`cfg` with the values of `layer` ({section: {key: value}}, YAML or Python names) applied."""
    if not isinstance(layer, dict):
        raise ConfigError(f"{source} must be a mapping of sections ({', '.join(SECTIONS)})")
    out = {s: dataclasses.asdict(getattr(cfg, s)) for s in SECTIONS}
    for section, values in layer.items():
        if section not in SECTIONS:
            raise ConfigError(f"unknown section {shown(section)} in {source}; "
                              f"known sections: {', '.join(SECTIONS)}")
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"section {section!r} in {source} must be a mapping of keys to values")
        known = section_fields(section)
        by_python_name = {f.name: f for f in known.values()}
        for key, value in values.items():
            f = known.get(key) or by_python_name.get(key)
            if f is None:
                raise ConfigError(f"unknown key {section}.{shown(key).strip(chr(39))} in {source}; "
                                  f"known keys in {section}: {', '.join(known)}")
            out[section][f.name] = _coerce(section, f, value, source)
    return JobConfig(**{s: SECTIONS[s](**out[s]) for s in SECTIONS})


def _named_dataset(layer: Any) -> str | None:
    """The dataset a layer names, to pick its preset; None where it names none (or something
    that is no name: merge() reports that in its own words)."""
    data = layer.get("data") if isinstance(layer, dict) else None
    dataset = data.get("dataset") if isinstance(data, dict) else None
    return dataset if isinstance(dataset, str) else None


def build_config(config_file: str | None = None,
                 overrides: dict[str, dict[str, Any]] | None = None,
                 job_defaults: dict[str, dict[str, Any]] | None = None,
                 recorded: tuple[str, dict[str, Any]] | None = None) -> JobConfig:
    """Layer defaults, the job's defaults, the dataset preset, a YAML file (or `recorded`: the
    (source, config) a run recorded, for --resume) and overrides; validate."""
    user = read_yaml(config_file) if config_file else {}
    overrides = overrides or {}
    base = recorded[1] if recorded else user
    dataset = _named_dataset(overrides) or _named_dataset(base) or DataConfig.dataset
    cfg = merge(JobConfig(), job_defaults or {}, "the job's defaults")
    preset = decoy_source(dataset) or dataset  # a decoy dataset: its source's settings
    if preset in DATASETS:  # a user's own data (imagefolder:, parquet:) has no preset
        cfg = merge(cfg, read_preset(preset), str(preset_path(preset)))
    if config_file:
        cfg = merge(cfg, user, str(config_file))
    if recorded:
        cfg = merge(cfg, recorded[1], recorded[0])
    cfg = merge(cfg, overrides, "the command line")
    masks = cfg.data.annotation_masks  # absolute, as the dataset: read from any directory
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(
        cfg.data, dataset=absolute_dataset(cfg.data.dataset),
        annotation_masks=str(Path(masks).expanduser().resolve()) if masks else None))
    validate(cfg)
    return cfg
