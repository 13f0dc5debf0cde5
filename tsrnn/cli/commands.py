"""Imports every command module so that each registers itself on the app."""

from tsrnn.cli import (
    detect_cmd,  # noqa: F401
    export_cmd,  # noqa: F401
    forecast_cmd,  # noqa: F401
    inspect_cmd,  # noqa: F401
    runs_cmd,  # noqa: F401
    serve_cmd,  # noqa: F401
)
