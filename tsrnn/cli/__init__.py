"""The `tsrnn` command line: thin Typer commands over the estimators.

Heavy libraries (numpy, pandas, torch, mlflow) are imported inside the commands, so that
`tsrnn --help` stays fast.
"""

from tsrnn.cli.app import app, main

__all__ = ["app", "main"]
