"""A call to something remote (a tracking server, an object store) with a hard time bound: the
libraries' own timeouts are per request and retried, and a server may trickle bytes for ever."""

from __future__ import annotations

import threading
from typing import Callable


def first_line(err: BaseException) -> str:
    """An exception in one line of at most 200 characters."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


def failure_within(call: Callable[[], object], timeout_s: float,
                   describe: Callable[[Exception], str] = first_line) -> str | None:
    """Run `call` in a daemon thread; None if it returned within `timeout_s`, else what went
    wrong, in words (`describe` of its exception, or "no answer within N s"). A call still
    running is left behind: it holds no lock, and the job is about to stop with one line."""
    failure: list[str] = []

    def target() -> None:
        try:
            call()
        except Exception as err:  # each backend raises its own types
            failure.append(describe(err))

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        return f"no answer within {timeout_s:.0f} s"
    return failure[0] if failure else None
