"""Imports every command module so that each registers itself on the app."""

from tsrnn.cli import inspect_cmd  # noqa: F401
from tsrnn.cli import forecast_cmd  # noqa: F401
from tsrnn.cli import detect_cmd  # noqa: F401
from tsrnn.cli import runs_cmd  # noqa: F401
from tsrnn.cli import serve_cmd  # noqa: F401
