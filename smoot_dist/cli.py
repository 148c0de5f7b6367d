"""What every entry point shares: one-line user errors with exit code 2."""

from __future__ import annotations

import sys
from typing import Callable

from .errors import UserError

USER_ERROR_EXIT = 2


def show_progress(wanted: bool = True) -> bool:
    """Progress bars only on a terminal: in logs (Ray jobs, CI, pipes) they are noise, and
    stderr stays free for the one line that says what went wrong."""
    return wanted and sys.stderr.isatty()


def run_cli(main: Callable[[], int | None]) -> None:
    """Run `main`; a UserError becomes one line on stderr and exit code 2."""
    try:
        code = main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
