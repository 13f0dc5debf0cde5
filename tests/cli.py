"""Running the real `tsrnn` command line in tests: one environment and one way to run it.

``run_cli(*args, cwd=...)`` runs ``python -m tsrnn *args`` to completion; ``run_many`` runs several
such commands side by side; ``start_cli`` starts one in the background (``--follow``, Ctrl-C
tests); ``run`` and ``start`` do the same for any other command line (a console script,
``python -c``, a server) in the same environment.

``invoke_cli(*args, cwd=...)`` runs the same ``tsrnn.cli.main`` inside the test process, as
``python -m tsrnn`` would run it (same environment, stdin, stdout, stderr, warnings, exit status,
a traceback for an uncaught exception), without paying for a new interpreter and its imports
(about 2 s a run, more with MLflow). Tests of refusals and messages use it; each command keeps
tests that run it as a real subprocess.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

TSRNN = [sys.executable, "-m", "tsrnn"]
TIMEOUT = 300  # seconds; a CLI test on this project's small files takes a few

# A wide, colourless terminal (tables are not truncated, messages not wrapped), one OpenMP thread
# (tiny models train fastest on one, and CLI runs side by side do not fight over cores), output
# unbuffered (a test reading a background command's stdout sees lines as they are printed), no
# MLFLOW_TRACKING_URI from the outside (tracking goes to the local store in cwd, or where a test
# says) and no torchrun variables from the outside. Bytecode may be cached (in the git-ignored
# __pycache__ folders): recompiling tsrnn costs each run about 0.3 s. The interpreter's own bin
# folder comes first on PATH, as in an activated virtual environment: `mlflow models serve`, which
# `tsrnn serve` runs, starts `uvicorn` from PATH.
ENV = {
    **os.environ,
    "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    "COLUMNS": "250",
    "NO_COLOR": "1",
    "TERM": "dumb",
    "PYTHONHASHSEED": "0",
    "OMP_NUM_THREADS": "1",
    "PYTHONUNBUFFERED": "1",
}
for _name in (
    "MLFLOW_TRACKING_URI",
    "PYTHONDONTWRITEBYTECODE",
    "WORLD_SIZE",
    "RANK",
    "LOCAL_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
):
    ENV.pop(_name, None)


def run(
    argv: list[str], cwd: Path, stdin: str | None = None, timeout: float = TIMEOUT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``argv`` in ``cwd`` to completion in ``ENV`` (plus ``env``); text stdout and stderr captured."""
    return subprocess.run(
        argv,
        cwd=cwd,
        env={**ENV, **(env or {})},
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_cli(
    *args: str, cwd: Path, stdin: str | None = None, timeout: float = TIMEOUT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python -m tsrnn *args`` in ``cwd``; ``stdin`` is the text it reads (none: an empty stdin)."""
    return run([*TSRNN, *args], cwd, stdin, timeout, env)


def run_many(
    jobs: dict[str, tuple[list[str], Path]], timeout: float = TIMEOUT
) -> dict[str, subprocess.CompletedProcess]:
    """``{name: (args, cwd)}`` -> ``{name: result}``: every ``python -m tsrnn *args`` at once, a few at a time.

    Each CLI run spends about a second importing pandas; running them side by side keeps the
    CLI suites fast on a small machine.
    """
    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 2) + 1) as pool:
        futures = {name: pool.submit(run_cli, *args, cwd=cwd, timeout=timeout) for name, (args, cwd) in jobs.items()}
        return {name: f.result() for name, f in futures.items()}


# What a fresh interpreter shows of Python warnings (`python -W` unset): everything but these.
_FRESH_WARNING_FILTERS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def _show_on_stderr(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


# MLflow's process-wide state that a tracked command sets (mlflow.set_tracking_uri,
# set_registry_uri, set_experiment): (module, variable).
_MLFLOW_GLOBALS = (
    ("mlflow.tracking._tracking_service.utils", "_tracking_uri"),
    ("mlflow.tracking._model_registry.utils", "_registry_uri"),
    ("mlflow.tracking.fluent", "_active_experiment_id"),
)


def _mlflow_state() -> dict[tuple[str, str], object]:
    """What those variables hold now (None for a module not imported yet: its initial value)."""
    return {(m, v): getattr(sys.modules[m], v) if m in sys.modules else None for m, v in _MLFLOW_GLOBALS}


def _set_mlflow_state(state: dict[tuple[str, str], object]) -> None:
    for (module, variable), value in state.items():
        if module in sys.modules:
            setattr(sys.modules[module], variable, value)


_FRESH_MLFLOW = dict.fromkeys(_MLFLOW_GLOBALS)  # as a new process starts: all unset


def invoke_cli(
    *args: str, cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``tsrnn.cli.main(args)`` in this process, in ``cwd`` and ``ENV`` (plus ``env``), reading
    ``stdin`` (none: an empty stdin): a ``CompletedProcess`` as ``run_cli`` returns it.

    The exit status is what ``python -m tsrnn`` would exit with; an exception that escapes ``main``
    is printed as a traceback on stderr with status 1, as Python does, so a "no traceback" check
    means what it means for the real command. Python warnings are shown on stderr as a fresh
    interpreter shows them, not collected by pytest. What the command changes in the process
    (environment, working directory, signal handlers, MLflow's store and experiment) is put back after it."""
    from tsrnn.cli import main

    argv = ["tsrnn", *args]
    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd, saved_argv, saved_stdin = dict(os.environ), os.getcwd(), sys.argv, sys.stdin
    saved_mlflow = _mlflow_state()
    saved_handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}  # `serve` sets one
    code: int | str | None = 0
    try:
        os.environ.clear()
        os.environ.update({**ENV, **(env or {})})
        os.chdir(cwd)
        sys.argv, sys.stdin = argv, io.StringIO(stdin or "")
        # a tracked command sets MLflow's store and experiment for the whole process: it starts
        # from none, as in a process of its own, and what this process had comes back after it
        _set_mlflow_state(_FRESH_MLFLOW)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.resetwarnings()
            for category in _FRESH_WARNING_FILTERS:
                warnings.simplefilter("ignore", category)
            warnings.showwarning = _show_on_stderr  # not collected by pytest's warnings plugin
            try:
                main(list(args))
            except SystemExit as e:
                code = e.code
            except BaseException:  # what the interpreter does with an uncaught exception
                traceback.print_exc()
                code = 1
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv, sys.stdin = saved_argv, saved_stdin
        _set_mlflow_state(saved_mlflow)
        for sig, handler in saved_handlers.items():
            signal.signal(sig, handler)
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): printed on stderr, status 1
        err.write(f"{code}\n")
        code = 1
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def _default_sigint() -> None:
    # A background job of a non-interactive shell starts with SIGINT ignored, and its children inherit
    # that: Python then installs no KeyboardInterrupt handler, and a test's SIGINT would be lost.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(argv: list[str], cwd: Path, env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen:
    """Start ``argv`` in ``cwd`` in ``ENV`` (plus ``env``) with SIGINT at its default, so that a test can
    interrupt it; stdout and stderr are text pipes unless ``popen`` says otherwise."""
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "stdin": subprocess.DEVNULL, **popen}
    return subprocess.Popen(argv, cwd=cwd, env={**ENV, **(env or {})}, text=True, preexec_fn=_default_sigint, **popen)


def start_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen:
    """``python -m tsrnn *args`` started in ``cwd`` (see ``start``)."""
    return start([*TSRNN, *args], cwd, env, **popen)
