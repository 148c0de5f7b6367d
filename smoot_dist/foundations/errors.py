"""User-facing errors: reported as one line on stderr with exit code 2, never a traceback."""

import reprlib
from typing import Any



class UserError(Exception):
    """Something the user can fix (a config value, a missing file, a name).

    The message says what is wrong and what to do; CLIs print it as one line and exit 2.
    """


class ConfigError(UserError):
    """A configuration value is out of range, of the wrong type, or unknown."""


class DataError(UserError):
    """Data is missing or corrupt; the message names the command that fixes it."""


# How messages show a value a user gave: bounded, whatever the value (a config file's value may
# be a huge list, or a string of megabytes).
_SHOWN = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHOWN.maxlevel, _SHOWN.maxlist, _SHOWN.maxdict = 2, 4, 4
_SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlong = 60, 60, 40


def shown(value: Any) -> str:
    """repr(value), cut to a line's worth."""
    return _SHOWN.repr(value)
