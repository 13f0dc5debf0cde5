"""The errors tsrnn raises for things a user can fix.

Every message names what is at fault (a file, a column, a row, an option) and says what to do.
The CLI prints them without a traceback and exits with status 2.
"""

from __future__ import annotations


class TsrnnError(Exception):
    """Base class of every error caused by the user's data, options or files.

    ``hint`` is one sentence saying what to do; it is printed after the message.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class DataError(TsrnnError, ValueError):
    """The input data cannot be used: unreadable file, bad values, too short, ..."""


class ConfigError(TsrnnError, ValueError):
    """An option or parameter has a value tsrnn cannot work with."""


class NotFittedError(TsrnnError, ValueError, AttributeError):
    """A model was used before ``fit`` (same bases as scikit-learn's NotFittedError)."""


class ModelFileError(TsrnnError):
    """A saved model directory is missing, damaged, or holds something unsafe."""


class OutputExistsError(TsrnnError, FileExistsError):
    """An output path already exists; tsrnn never overwrites without ``--force``."""


class DataWarning(UserWarning):
    """tsrnn went on with the data but left something out, and says what (the CLI prints it)."""
