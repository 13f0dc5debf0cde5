"""Recurrent autoencoder: rebuild a window from a fixed-size summary of it.

Input and output: x (B, W, C), a window of W steps. The encoder (stacked, optionally
bidirectional) reads the window; its summary (last layer's final hidden state, both directions)
is repeated at every step as the input of a unidirectional recurrent decoder, whose outputs a
Linear layer maps back to C channels. Trained on normal data, it rebuilds normal windows well
and anomalous ones badly: the reconstruction error is the anomaly score.

There is no instance normalisation here on purpose: it would erase level shifts, which are
anomalies to be found, not nuisances to be removed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tsrnn.checks import check_choice, check_fraction, check_int

from .encoder import CELLS, RecurrentEncoder


class RecurrentAutoencoder(nn.Module):
    """Encode a (B, W, C) window to (B, D * hidden) and decode it back to (B, W, C)."""

    def __init__(
        self,
        n_inputs: int,
        hidden_size: int = 64,
        num_layers: int = 1,
        cell: str = "lstm",
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.n_inputs = check_int("n_inputs", n_inputs, 1)
        self.hidden_size = check_int("hidden_size", hidden_size, 1)
        self.num_layers = check_int("num_layers", num_layers, 1)
        self.cell = check_choice("cell", cell, CELLS)
        self.bidirectional = bool(bidirectional)
        self.dropout = check_fraction("dropout", dropout, include_one=False)
        self.encoder = RecurrentEncoder(n_inputs, hidden_size, num_layers, cell, bidirectional, dropout)
        width = self.encoder.output_size  # D * hidden
        self.decoder = RecurrentEncoder(width, hidden_size, num_layers, cell, False, dropout)
        self.head = nn.Linear(hidden_size, n_inputs)

    def config(self) -> dict[str, Any]:
        """Constructor arguments: ``RecurrentAutoencoder(**model.config())`` rebuilds it."""
        return {
            "n_inputs": self.n_inputs,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "cell": self.cell,
            "bidirectional": self.bidirectional,
            "dropout": self.dropout,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rebuild ``x`` (B, W, C); returns (B, W, C)."""
        if x.dim() != 3 or x.shape[-1] != self.n_inputs:
            raise ValueError(f"x must have shape (batch, window, n_inputs={self.n_inputs}); got {tuple(x.shape)}")
        _, state = self.encoder(x)
        summary = self.encoder.summary(state)  # (B, D * hidden)
        repeated = summary[:, None, :].expand(-1, x.shape[1], -1)  # (B, W, D * hidden)
        out, _ = self.decoder(repeated)  # (B, W, hidden)
        return self.head(out)  # (B, W, C)
