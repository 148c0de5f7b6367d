"""SIGTERM, handled like Ctrl-C: it is what `ray job stop`, Kubernetes and Slurm send. The job
stops where it is, keeps the checkpoint of its last completed epoch, marks its MLflow run
KILLED, prints `interrupted (SIGTERM)` and exits 143 (128 + 15), as shells report the signal."""

from __future__ import annotations

import signal
import threading

SIGTERM_EXIT = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, where Ctrl-C raises KeyboardInterrupt: every
    `except KeyboardInterrupt` that cleans up after Ctrl-C does the same for it."""


# The SIGTERMs this process received: Ray's core turns any KeyboardInterrupt raised while it
# waits (ray.get under Tune) into a plain one, so the exception's type alone can lose it.
_received: list[int] = []


def _raise_terminated(signum, frame) -> None:
    _received.append(signum)
    raise Terminated


def was_terminated(err: BaseException) -> bool:
    """Whether an interrupt came from SIGTERM (not Ctrl-C), whatever became of its type."""
    return isinstance(err, Terminated) or bool(_received)


def interrupt_behind(err: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM an exception hides, if any: pybind11 extensions (matplotlib's)
    turn an exception raised while they initialise into ImportError, so an interrupt that
    lands inside an import can come out as one."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def handle_sigterm() -> None:
    """Turn SIGTERM into Terminated from here on (again after a library replaced the handler:
    ray.init installs one that exits at once). Signal handlers live in the main thread only."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
