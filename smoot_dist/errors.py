"""User-facing errors: reported as one line on stderr with exit code 2, never a traceback."""


class UserError(Exception):
    """Something the user can fix (a config value, a missing file, a name).

    The message says what is wrong and what to do; CLIs print it as one line and exit 2.
    """


class ConfigError(UserError):
    """A configuration value is out of range, of the wrong type, or unknown."""


class DataError(UserError):
    """Data is missing or corrupt; the message names the command that fixes it."""
