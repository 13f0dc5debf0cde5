"""Stateful next-step model for very long series (like a Keras ``stateful=True`` RNN).

A series too long for one backward pass is cut into consecutive chunks of T steps. The caller runs
the chunks in order and carries the recurrent state from one to the next, detaching it at every
boundary (``detach_state``), which is truncated BPTT with the chunk length as the truncation::

    state = None
    for x in chunks:                        # x: (B, T, n_inputs), consecutive in time
        pred, state = model(x, state)       # pred: (B, T, n_targets)
        loss = mse(pred[:, :-1], x[:, 1:, model.target_index])
        ...backward, step...
        state = detach_state(state)

Output ``pred[:, t]`` is the prediction of the target channels at step t + 1 (many-to-many).

There is no instance normalization here: per-window statistics only make sense when every window
is processed on its own. Here the state is carried across chunks, so each chunk would be put on a
different scale and the carried state would no longer match its inputs. Scale the whole series
once, before chunking, instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from tsrnn.checks import check_choice, check_fraction, check_int, check_target_index

from .encoder import CELLS, RecurrentEncoder, State


class NextStepRNN(nn.Module):
    """A unidirectional recurrent stack and a Linear layer predicting the targets' next values at every step."""

    def __init__(
        self,
        n_inputs: int,
        target_index: Sequence[int],
        cell: str = "lstm",
        hidden_size: int = 64,
        num_layers: int = 2,
        dropout: float = 0.0,
    ) -> None:
        """``target_index``: which input channels are predicted (the others are inputs only)."""
        super().__init__()
        self.n_inputs = check_int("n_inputs", n_inputs, 1)
        self.target_index = check_target_index(target_index, self.n_inputs)
        self.cell = check_choice("cell", cell, CELLS)
        self.hidden_size = check_int("hidden_size", hidden_size, 1)
        self.num_layers = check_int("num_layers", num_layers, 1)
        self.dropout = check_fraction("dropout", dropout, include_one=False)
        self.n_targets = len(self.target_index)

        self.encoder = RecurrentEncoder(
            self.n_inputs, self.hidden_size, self.num_layers, self.cell, bidirectional=False, dropout=self.dropout
        )
        self.head = nn.Linear(self.hidden_size, self.n_targets)

    def config(self) -> dict[str, Any]:
        """The constructor arguments as a JSON-able dict: ``NextStepRNN(**model.config())`` rebuilds it."""
        return {
            "n_inputs": self.n_inputs,
            "target_index": list(self.target_index),
            "cell": self.cell,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
        }

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Predict from ``x`` (B, T, n_inputs), continuing from ``state``; return (pred (B, T, n_targets), state)."""
        if x.dim() != 3 or x.shape[-1] != self.n_inputs:
            raise ValueError(f"x must have shape (batch, steps, n_inputs={self.n_inputs}); got {tuple(x.shape)}")
        out, state = self.encoder(x, state)  # (B, T, hidden)
        return self.head(out), state  # (B, T, n_targets)

    @torch.no_grad()
    def forecast(self, x: torch.Tensor, horizon: int) -> torch.Tensor:
        """Warm the state up on ``x`` (B, L, n_inputs), then roll out ``horizon`` steps feeding each
        prediction back as the next input; return (B, horizon, n_targets).

        Needs every input channel to be a target (no covariates): their future is unknown.
        """
        if self.n_targets != self.n_inputs:
            raise ValueError("forecast needs every input channel to be a target (covariates have no future values)")
        pred, state = self(x)  # (B, L, n_targets)
        step = pred[:, -1:]  # (B, 1, n_targets): the first forecast step
        steps = [step]
        for _ in range(horizon - 1):
            nxt = torch.empty_like(step)
            nxt[..., self.target_index] = step  # inputs in channel order
            step, state = self(nxt, state)  # (B, 1, n_targets)
            steps.append(step)
        return torch.cat(steps, dim=1)  # (B, horizon, n_targets)
