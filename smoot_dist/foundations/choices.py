"""Comma-separated lists of names as flags and config files give them (methods, orders,
datasets): one parser, and one error line for a name outside the known ones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from .errors import ConfigError

T = TypeVar("T")


def split_names(text: str | None) -> list[str]:
    """'a, b,,a' -> ['a', 'b']: blanks dropped, order kept, a repeated name once."""
    return list(dict.fromkeys(part.strip() for part in (text or "").split(",") if part.strip()))


def choose_names(text: str | None, known: Iterable[str], what: str, flag: str,
                 hint: str = "") -> list[str]:
    """The names listed in `text`, each one of `known` (at least one), else a ConfigError naming
    the unknown ones, the flag they came from and the choices."""
    names, known = split_names(text), list(known)
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ConfigError(f"unknown {what}(s) {', '.join(unknown) or '(none given)'} in {flag}; "
                          f"choose from: {', '.join(known)}{hint}")
    return names


def look_up(declared: Mapping[str, T], name: str, what: str) -> T:
    """The declaration of `name` in a registry, else a ConfigError naming the choices."""
    try:
        return declared[name]
    except KeyError:
        raise ConfigError(f"unknown {what} {name!r}; choose from: {', '.join(declared)}") from None
