"""Reading a YAML config file: bounded in size, in nesting and in what its aliases expand to,
so that no file (a device, a huge file, a "billion laughs" of aliases) hangs a job; every
problem is one ConfigError line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from ..foundations.errors import ConfigError

# A config file holds a few dozen values; YAML aliases repeated inside each other (a "billion
# laughs" file) expand a few lines into billions: refused past this many, before anything
# formats or copies them.
MAX_CONFIG_VALUES = 10_000
MAX_CONFIG_BYTES = 1 << 20  # a config file is a few hundred bytes; a megabyte is no config


def read_yaml(path: str | os.PathLike) -> Any:
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config file {p} does not exist; pass an existing YAML file to --config")
    if not p.is_file():  # a folder, /dev/zero, a FIFO: reading it would never end, or fail
        raise ConfigError(f"config file {p} is not a regular file; pass a YAML file to --config")
    if p.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {p} is {p.stat().st_size} bytes, more than a config "
                          f"({MAX_CONFIG_BYTES} at most); pass the right file to --config")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {p} is not UTF-8 text; save it as UTF-8") from None
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"config file {p} is not valid YAML{at}; fix its syntax") from None
    except RecursionError:
        raise ConfigError(f"config file {p} nests too deeply to be a config; fix it") from None
    if _expanded_size(data, MAX_CONFIG_VALUES) > MAX_CONFIG_VALUES:
        raise ConfigError(f"config file {p} expands to more than {MAX_CONFIG_VALUES} values "
                          f"(YAML aliases repeated inside each other?); write its values out")
    return data or {}


def _expanded_size(data: Any, limit: int) -> int:
    """The values in `data` with every alias counted where it is used (a list referenced nine
    times counts nine times); stops counting past `limit`."""
    count, stack = 0, [data]
    while stack and count <= limit:
        value = stack.pop()
        count += 1
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return count

