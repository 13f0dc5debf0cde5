"""Shared fixtures: one torch thread for in-process training, and running the real `tsrnn`
command line as subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

# A wide, colourless terminal: tables are not truncated and messages are not wrapped. Bytecode may be
# cached (in the git-ignored __pycache__ folders): recompiling tsrnn costs each CLI run about 0.3 s.
_ENV = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb", "PYTHONHASHSEED": "0"}
_ENV.pop("PYTHONDONTWRITEBYTECODE", None)


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tiny models train fastest on one CPU thread, and do not fight other processes for cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tsrnn", *args], cwd=cwd, env=_ENV, capture_output=True, text=True, timeout=180
    )


@pytest.fixture(scope="session")
def run_cli() -> Callable[[list[str], Path], subprocess.CompletedProcess]:
    """``run_cli(args, cwd)``: ``python -m tsrnn *args`` in ``cwd``."""
    return _run


@pytest.fixture(scope="session")
def run_cli_many() -> Callable[[dict[str, tuple[list[str], Path]]], dict[str, subprocess.CompletedProcess]]:
    """``run_cli_many({name: (args, cwd)})``: every command at once, a few at a time.

    Each CLI run spends about a second importing pandas; running them side by side keeps the
    CLI suites fast on a small machine.
    """

    def run_many(jobs: dict[str, tuple[list[str], Path]]) -> dict[str, subprocess.CompletedProcess]:
        with ThreadPoolExecutor(max_workers=(os.cpu_count() or 2) + 1) as pool:
            futures = {name: pool.submit(_run, args, cwd) for name, (args, cwd) in jobs.items()}
            return {name: f.result() for name, f in futures.items()}

    return run_many
