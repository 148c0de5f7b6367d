"""Every setting of every job: the schema (schema.py: one dataclass per section, the only place a
setting, its default, its range and its help text are written), the YAML reader (yaml_file.py),
the presets shipped with the package (presets.py), the layering of defaults < preset < file <
flags (layering.py) and the checks (validation.py). Callers import from here."""

from .layering import build_config, merge
from .presets import preset_differences
from .schema import (ANNOTATION_METHODS, DEVICES, EXPERIMENT_SECTIONS, FILLS, METHODS,
                     OBJECTIVES, OPTIMIZERS, PRECISIONS, RUN_NAME, SECTIONS, CompareConfig,
                     DataConfig, EvaluateConfig, JobConfig, MethodConfig, ModelConfig,
                     MotivationConfig, PrepareConfig, ReproduceConfig, RunConfig, SweepConfig,
                     TrackingConfig, TrainConfig, base_type, external_name, flag_of,
                     section_fields, setting)
from .validation import validate, validate_method
from .yaml_file import MAX_CONFIG_BYTES, MAX_CONFIG_VALUES, read_yaml

__all__ = [
    "ANNOTATION_METHODS", "DEVICES", "EXPERIMENT_SECTIONS", "FILLS", "METHODS", "OBJECTIVES",
    "OPTIMIZERS", "PRECISIONS",
    "RUN_NAME", "SECTIONS", "CompareConfig", "DataConfig", "EvaluateConfig", "JobConfig",
    "MAX_CONFIG_BYTES", "MAX_CONFIG_VALUES", "MethodConfig", "ModelConfig", "MotivationConfig",
    "PrepareConfig", "ReproduceConfig", "RunConfig", "SweepConfig", "TrackingConfig",
    "TrainConfig", "base_type", "build_config", "external_name", "flag_of", "merge",
    "preset_differences", "read_yaml", "section_fields", "setting", "validate", "validate_method",
]
