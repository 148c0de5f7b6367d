"""The settings that ship with the package: the dataset presets (the paper's Table 1 per dataset),
the reproduction protocols and the default sweep search space, in `smoot_dist/presets/`.

They are package data, found with importlib.resources, so an installed wheel has them as a
checkout does (the checkout's `configs/` and `tune/search_space.yaml` are links to the same
files: one copy). A wheel installs as plain files, so the package's folder is a real folder.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from ..foundations.catalog import DATASETS
from ..foundations.errors import ConfigError
from .schema import JobConfig, section_fields
from .yaml_file import read_yaml

PRESETS = Path(str(files("smoot_dist") / "presets"))
PROTOCOLS = PRESETS / "reproduce"
SEARCH_SPACE = PRESETS / "search_space.yaml"
SEARCH_SPACES = PRESETS / "search_spaces"  # named spaces (the tuned comparison's, per method)


def preset_path(dataset: str) -> Path:
    return PRESETS / f"{dataset}.yaml"


def read_preset(dataset: str) -> dict[str, Any]:
    """The preset of a built-in dataset. Every built-in has one: a missing file means a broken
    installation, and training on without it would silently lose the paper's settings."""
    path = preset_path(dataset)
    if not path.is_file():
        raise ConfigError(f"the preset of {dataset} ({path}) is missing from the installed "
                          f"smoot_dist; reinstall the package (pip install --force-reinstall)")
    return read_yaml(path)


def preset_differences() -> dict[tuple[str, str], dict[Any, list[str]]]:
    """Settings some dataset preset sets away from the default: (section, python name) ->
    {value: [datasets]} (for --help)."""
    defaults, out = JobConfig(), {}
    for dataset in DATASETS:
        for section, values in read_preset(dataset).items():
            fields = section_fields(section)
            for key, value in (values or {}).items():
                name = fields[key].name
                if section != "data" and value != getattr(getattr(defaults, section), name):
                    out.setdefault((section, name), {}).setdefault(value, []).append(dataset)
    return out
