"""The Typer app, its error handling, and helpers shared by the commands."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import typer

from tsrnn.errors import ConfigError, DataWarning, OutputExistsError, TsrnnError

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


def warn(messages: Any) -> None:
    """Print each of the data's (or a fit's) warnings to standard error."""
    for message in messages:
        err(f"[yellow]warning:[/] {message}")


def refuse_existing(path: Path | None, force: bool, option: str, makes_folders: bool = False) -> None:
    """Nothing the user has is overwritten: an existing output path needs --force. A file's folder
    must exist (``makes_folders``: the writer creates it, as a model directory's parents are),
    checked before any work."""
    if path is None:
        return
    path = path.expanduser()  # "~/f.csv" given in quotes: pandas writes it to the home folder
    if path.exists() and not force:
        raise OutputExistsError(
            f"{path} already exists ({option})", "choose another path, or pass --force to replace it"
        )
    if not makes_folders and not path.parent.is_dir():
        raise ConfigError(
            f"the folder {path.parent} of {option} {path} does not exist",
            f"create it first (mkdir -p {path.parent}), or choose another path",
        )


def check_tracking(command: Any, given: dict[str, Any], tracked: bool, model_uri: bool = False) -> None:
    """Tracking options are refused when nothing is tracked (they would be ignored), except
    --tracking-uri when it fetches an MLflow ``--model`` (``model_uri``); a --register name
    MLflow would refuse is refused before any training."""
    from tsrnn.checks import refuse_unused
    from tsrnn.tracking import check_register

    if not tracked:
        names = [n for n in ("tracking_uri", "experiment", "run_name", "register") if n in given]
        names = [n for n in names if not (model_uri and n == "tracking_uri")]
        refuse_unused(
            command,
            names,
            "without tracking (--no-track, or a stream on standard input)",
            given,
            "drop it, or drop --no-track",
        )
    check_register(given.get("register"))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `tsrnn` script and `python -m tsrnn`."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    import tsrnn.cli.commands  # noqa: F401  (registers the commands)

    shown = warnings.showwarning

    def show(message: Any, category: type[Warning], *rest: Any, **kw: Any) -> None:
        """A DataWarning (tsrnn left something of the data out) as the data's other warnings; the rest as Python shows them."""
        if issubclass(category, DataWarning):
            warn([str(message)])
        else:
            shown(message, category, *rest, **kw)

    try:
        with warnings.catch_warnings():  # restores showwarning after the command
            warnings.showwarning = show
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
