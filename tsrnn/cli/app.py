"""The Typer app, its error handling, and helpers shared by the commands."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from tsrnn.errors import OutputExistsError, TsrnnError

app = typer.Typer(
    name="tsrnn",
    help="Time-series forecasting and anomaly detection with recurrent neural networks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback when something fails."),
) -> None:
    """Time-series forecasting and anomaly detection with recurrent neural networks."""


def err(message: str) -> None:
    """Print one line to standard error (rich markup allowed)."""
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(message, highlight=False)


def refuse_existing(path: Path | None, force: bool, option: str) -> None:
    """Nothing the user has is overwritten: an existing output path needs --force."""
    if path is not None and path.exists() and not force:
        raise OutputExistsError(
            f"{path} already exists ({option})", "choose another path, or pass --force to replace it"
        )


def refuse_options(command: Any, given: dict[str, Any], names: Sequence[str], why: str, hint: str) -> None:
    """Options that do not apply are refused, never silently ignored: any of ``names`` that
    differs from its default in ``command``'s signature raises ConfigError."""
    import inspect

    from tsrnn.errors import ConfigError

    defaults = inspect.signature(command).parameters
    for name in names:
        if given[name] != defaults[name].default:
            raise ConfigError(f"--{name.replace('_', '-')} {why}", hint)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `tsrnn` script and `python -m tsrnn`."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    import tsrnn.cli.commands  # noqa: F401  (registers the commands)

    try:
        app(args=args, prog_name="tsrnn")
    except TsrnnError as e:
        if debug:
            raise
        from rich.markup import escape

        err(f"[bold red]error:[/] {escape(e.message)}")
        if e.hint:
            err(f"[yellow]hint:[/] {escape(e.hint)}")
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err("[yellow]interrupted[/]")
        sys.exit(130)
