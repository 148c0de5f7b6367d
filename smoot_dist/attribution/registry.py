"""Every attribution method an evaluation or explain can use, declared once: its name (what
--methods takes), its title (tables, figures, progress lines) and its builder. `--help`, the
evaluation record, compare's tables and the results pages read them from here, so a new method
is one `register_attribution` (methods.py declares the built-in ones)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..foundations.choices import choose_names, look_up, split_names

Attribute = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x, y) -> |a| (B, H*W)


@dataclass(frozen=True)
class Build:
    """What a builder gets besides the model."""
    captum: Any  # the `captum.attr` module, imported
    references: torch.Tensor | None  # the Shap methods' reference images
    batch_size: int  # images through the model at once, inside methods that multiply the batch


@dataclass(frozen=True)
class AttributionMethod:
    name: str
    title: str
    build: Callable[[nn.Module, Build], Attribute]  # (model in eval mode, Build) -> attribute
    needs_references: bool = False  # Shap: draws its references from test images


_METHODS: dict[str, AttributionMethod] = {}


def register_attribution(name: str, title: str, *, needs_references: bool = False
                         ) -> Callable[[Callable[[nn.Module, Build], Attribute]], Callable]:
    """Declare an attribution method by decorating its builder."""
    def declare(build: Callable[[nn.Module, Build], Attribute]) -> Callable:
        if name in _METHODS:
            raise ValueError(f"attribution method {name!r} is declared twice")
        _METHODS[name] = AttributionMethod(name, title, build, needs_references)
        return build
    return declare


def attribution_methods() -> tuple[str, ...]:
    """Every method, in the declarations' order."""
    return tuple(_METHODS)


def title(name: str) -> str:
    """A method's title (`Grad`), or its name where it has none."""
    return _METHODS[name].title if name in _METHODS else name


def get_attribution(name: str) -> AttributionMethod:
    return look_up(_METHODS, name, "attribution method")


def parse_methods(text: str | list[str], flag: str = "--methods") -> list[str]:
    """Attribution methods from a comma list (or a list); 'all', or none named: every one."""
    names = split_names(",".join(text) if isinstance(text, list) else text)
    if names in (["all"], []):
        return list(_METHODS)
    return choose_names(",".join(names), tuple(_METHODS), "attribution method", flag, " (or all)")
