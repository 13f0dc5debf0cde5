"""Forecaster and autoencoder side by side: the network of the detector's ``hybrid`` method.

Input: windows x (B, W + 1, C). The forecaster (last-value normalised, so it learns how each
channel moves rather than where it is) predicts the last row from the W rows before it; the
autoencoder (no normalisation, so it learns where normal windows lie) rebuilds the whole
window. Their errors catch different anomalies: a spike, a burst of noise or a missing cycle
breaks the forecast; a level shift is forecast well after its first row, while the
autoencoder, having seen no window like it, rebuilds it worse (how long that lasts depends on how
the detector combines windows: with its causal default only the shift's first rows score high on
the shipped demo).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .autoencoder import RecurrentAutoencoder
from .recurrent_forecaster import RecurrentForecaster


class ForecastAndReconstruct(nn.Module):
    """A one-step ``RecurrentForecaster`` (norm "last") and a ``RecurrentAutoencoder`` of the same size."""

    def __init__(
        self,
        n_inputs: int,
        hidden_size: int = 32,
        num_layers: int = 1,
        cell: str = "lstm",
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        net = dict(cell=cell, hidden_size=hidden_size, num_layers=num_layers, bidirectional=bidirectional)
        self.forecaster = RecurrentForecaster(n_inputs, list(range(n_inputs)), 1, norm="last", dropout=dropout, **net)
        self.autoencoder = RecurrentAutoencoder(n_inputs, dropout=dropout, **net)

    def config(self) -> dict[str, Any]:
        """Constructor arguments: ``ForecastAndReconstruct(**model.config())`` rebuilds it."""
        return self.autoencoder.config()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows (B, W + 1, C) -> (forecast of the last row (B, 1, C), reconstruction (B, W + 1, C))."""
        forecast = self.forecaster(x[:, :-1])[..., 0]  # (B, 1, C): the point forecast
        return forecast, self.autoencoder(x)
