"""Typed errors for mistakes a user can fix: the CLI prints each as one line and exits 2.

Library code raises these (never `SystemExit`) with a message that names the file, row or
field at fault and says what to do. The CLI catches them in one place (`cli/main.py`); with
`-v` it also prints the traceback. Anything else that escapes is a bug and keeps its
traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in what the user gave us (an argument, a file, a row, a config)."""


class InputError(UserError, ValueError):
    """An input file, row or field is missing, malformed or of the wrong type."""


class ConfigError(UserError, ValueError):
    """A flag, recipe key or configuration value is invalid or inconsistent."""


class OutputError(UserError):
    """An output path cannot be written, or holds something this command did not write."""


def refuse_out_of_range(checks: list[tuple[str, object, bool, str]]) -> None:
    """`(flag, value, ok, what it must be)` rows: a `ConfigError` for the first not ok."""
    for flag, value, ok, want in checks:
        if not ok:
            raise ConfigError(f"{flag} must be {want}, got {value}")
