"""The CLI's defaults are the estimators': `tsrnn fit` and `tsrnn detect` give what the same
estimator with no arguments gives. The only differences are by design: ``--val`` and ``--test``
are text (a fraction, a number of rows or a time), and the CLI seeds every run (``random_state`` 0)."""

from __future__ import annotations

import inspect

import pytest

from tsrnn.cli import commands  # all commands, in the app's order (importing one first would reorder `--help`)
from tsrnn.estimators import RNNAnomalyDetector, RNNForecaster

BY_DESIGN = {"random_state": (0, None)}


@pytest.mark.parametrize(
    "command, estimator", [(commands.forecast_cmd.fit, RNNForecaster), (commands.detect_cmd.detect, RNNAnomalyDetector)]
)
def test_cli_defaults_equal_the_estimators(command, estimator) -> None:
    cli = {n: p.default for n, p in inspect.signature(command).parameters.items()}
    est = estimator().get_params()
    shared = set(cli) & set(est)
    assert {"epochs", "lookback", "hidden_size"} <= shared
    differ = {}
    for name in sorted(shared):
        if name in ("val", "test"):  # text on the command line
            assert float(cli[name]) == est[name], name
        elif cli[name] != est[name]:
            differ[name] = (cli[name], est[name])
    assert differ == BY_DESIGN
