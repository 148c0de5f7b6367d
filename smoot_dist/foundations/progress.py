"""Progress through long loops (the evaluation's batches): a tqdm bar on a terminal, and in a log
(a Ray job's, CI's, a pipe) a line at about every 10%, so that minutes of work are never silent.
`Progress` is what a command resolved from --no-progress and the terminal (cli.resolve_progress):
"bar", "lines" or None (nothing)."""

from __future__ import annotations

import time
from typing import Iterable, Iterator, Literal, Optional, Sequence, TypeVar

from tqdm import tqdm

T = TypeVar("T")
Progress = Optional[Literal["bar", "lines"]]


def progress_mode(bar: bool, lines: bool) -> Progress:
    return "bar" if bar else "lines" if lines else None


def with_progress(items: Sequence[T], desc: str, mode: Progress, unit: str = "batch"
                  ) -> Iterable[T]:
    if mode == "bar":
        return tqdm(items, desc=f"{desc:>19}", unit=unit, leave=False, mininterval=2.0)
    if mode == "lines":
        return _lines(items, desc, unit)
    return items


def _lines(items: Sequence[T], desc: str, unit: str) -> Iterator[T]:
    n, start, shown = len(items), time.perf_counter(), 0
    for i, item in enumerate(items, 1):
        yield item
        tenth = 10 * i // n  # a line each time another tenth is done, the last one included
        if tenth > shown:  # (it says how long the loop took; a one-batch loop has only it)
            shown = tenth
            spent = time.perf_counter() - start
            print(f"  {desc}: {unit} {i}/{n} ({100 * i / n:.0f}%)  {spent:.0f} s, "
                  + (f"ETA {spent * (n - i) / i:.0f} s" if i < n else "done"), flush=True)
