"""Shared fixtures: one torch thread for in-process training, and running the real `tsrnn`
command line as subprocesses (the helpers live in tests/cli.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cli import run_many


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tiny models train fastest on one CPU thread, and do not fight other processes for cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def run_cli_many() -> Callable[..., dict]:
    """``cli.run_many``: ``run_cli_many({name: (args, cwd)})`` runs every command at once, a few at a time."""
    return run_many
