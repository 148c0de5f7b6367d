"""What every figure shares: matplotlib on the file-only backend, saving (PNG, and SVG beside it
inside `svg_copies()`), the styles of methods and controls, whole-count histogram bins."""

from __future__ import annotations

import contextlib
import contextvars
import math
import warnings
from pathlib import Path
from typing import Iterator

# Inside `svg_copies()`, every figure is also written as SVG beside its PNG (the results page:
# vector figures for a paper or slides; runs' own figures stay PNG only).
_SVG = contextvars.ContextVar("svg_copies", default=False)
# A control drawn as such: grey and dashed, behind the methods it is a baseline for.
CONTROLS = {"Random": {"color": "0.55", "linestyle": "--", "zorder": 1}}
# Distinct markers and dashes, so that methods whose curves overlap stay visible.
STYLES = [("o", "-"), ("s", "--"), ("^", "-."), ("D", ":"), ("v", "-"), ("P", "--"), ("X", "-.")]


@contextlib.contextmanager
def svg_copies() -> Iterator[None]:
    token = _SVG.set(True)
    try:
        yield
    finally:
        _SVG.reset(token)


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display on servers and workers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: str | Path, tight: bool = True) -> Path:
    """`tight`: tight_layout first (it cannot place a colour bar shared by many axes)."""
    if tight:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            fig.tight_layout()
        # long labels (a row's settings) leave tight_layout no room: crop to the drawing instead
        tight = not any("Tight layout not applied" in str(w.message) for w in caught)
    path = Path(path)
    extra = {} if tight else {"bbox_inches": "tight"}
    fig.savefig(path, **extra)
    if _SVG.get():
        fig.savefig(path.with_suffix(".svg"), **extra)
    pyplot().close(fig)
    return path


def integer_bins(lo: int, hi: int, most: int = 80) -> list[float]:
    """Histogram edges for whole pixel counts in [lo, hi]: each bin spans the same whole number
    of counts, edges half-way between counts. Bins of a fractional width take one count in some
    and two in others, which draws a comb that is not in the data."""
    width = max(1, math.ceil((hi - lo + 1) / most))
    return [lo - 0.5 + i * width for i in range(math.ceil((hi - lo + 1) / width) + 1)]
