"""Multi-horizon forecaster: a recurrent encoder over a lookback window plus one of two heads.

Input:  x (B, L, n_inputs), a lookback window of L steps. ``target_index`` says which channels are
        the targets; the other channels are covariates (observed in the past, used as inputs only).
Output: (B, H, n_targets, n_quantiles), H = horizon steps ahead for every target channel.

The pipeline, top to bottom in :meth:`RecurrentForecaster.forward`:

1. instance norm (optional, on by default): every window and channel is standardized by its own
   mean and std; the outputs are mapped back with the target channels' statistics (see norm.py).
2. channel independence (optional): each target channel becomes its own univariate sequence
   (its values plus all covariates), all sharing the same weights.
3. encoder: a stack of RNN / LSTM / GRU layers (see encoder.py), optionally bidirectional and
   with truncated BPTT.
4. head, one of:

   * ``"direct"``: the encoder's summary (last layer's final hidden state, both directions)
     goes through one Linear layer that emits all H steps at once.
   * ``"seq2seq"``: a recurrent decoder of the same cell type unrolls H steps one at a time,
     feeding each step's prediction back as the next step's input.

Series embedding (optional, ``n_ids`` > 0): one global model over many series can learn a vector of
``embedding_dim`` numbers per series (``nn.Embedding(n_ids, embedding_dim)``). ``forward`` then
needs ``ids`` (B,), the series number of each window; the window's vector is concatenated to the
encoder's input at every time step (after instance norm, so it is never normalised), which lets
series that look alike in a window still be forecast differently.

Design of the seq2seq decoder:

* It is unidirectional, has the encoder's number of layers, and its hidden size is the encoder's
  output size D * hidden_size (D = 2 when bidirectional). Its initial state is the encoder's final
  state with both directions of each layer concatenated (``RecurrentEncoder.layer_states``), so
  it needs no extra bridge layer, and for a unidirectional encoder it is the encoder state itself.
* Its input at step t is the target values of step t - 1: at t = 0 the last observed values of the
  lookback; later, the previous prediction (the middle quantile, index n_quantiles // 2, which is
  the median for odd n_quantiles and symmetric quantile levels).
* Teacher forcing: in training mode, when y is given, the input at each step t >= 1 is the true
  y[t - 1] with probability ``teacher_forcing``: one ``torch.rand`` draw per step for the whole
  batch, so it follows ``torch.manual_seed``. In eval mode y is ignored.
* The fed-back prediction is detached: as in scheduled sampling, a fed-back value is treated as
  an input, not as a path for gradients. Gradients still flow through the decoder's recurrent
  state from every step back into the encoder; they just do not also flow back through the
  model's own earlier outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from tsrnn.checks import check_choice, check_fraction, check_int, check_target_index
from tsrnn.errors import ConfigError

from .encoder import CELLS, RecurrentEncoder, State
from .norm import InstanceNorm

HEADS = ("direct", "seq2seq")


class RecurrentForecaster(nn.Module):
    """Forecast the next ``horizon`` steps of the target channels from a lookback window."""

    def __init__(
        self,
        n_inputs: int,
        target_index: Sequence[int],
        horizon: int,
        cell: str = "lstm",
        hidden_size: int = 64,
        num_layers: int = 2,
        bidirectional: bool = False,
        dropout: float = 0.0,
        head: str = "direct",
        teacher_forcing: float = 0.5,
        instance_norm: bool = True,
        channel_independent: bool = False,
        n_quantiles: int = 1,
        n_ids: int = 0,
        embedding_dim: int = 0,
    ) -> None:
        """See the module docstring. ``teacher_forcing`` is used by the seq2seq head only; ``n_ids``
        series of ``embedding_dim`` learned numbers each (both 0: no series embedding)."""
        super().__init__()
        self.n_inputs = check_int("n_inputs", n_inputs, 1)
        self.target_index = check_target_index(target_index, self.n_inputs)
        self.horizon = check_int("horizon", horizon, 1)
        self.cell = check_choice("cell", cell, CELLS)
        self.hidden_size = check_int("hidden_size", hidden_size, 1)
        self.num_layers = check_int("num_layers", num_layers, 1)
        self.bidirectional = bool(bidirectional)
        self.dropout = check_fraction("dropout", dropout, include_one=False)
        self.head_type = check_choice("head", head, HEADS)
        self.teacher_forcing = check_fraction("teacher_forcing", teacher_forcing, include_one=True)
        self.instance_norm = bool(instance_norm)
        self.channel_independent = bool(channel_independent)
        self.n_quantiles = check_int("n_quantiles", n_quantiles, 1)
        self.n_ids = check_int("n_ids", n_ids, 0)
        self.embedding_dim = check_int("embedding_dim", embedding_dim, 0)
        if (self.n_ids == 0) != (self.embedding_dim == 0):
            raise ConfigError(
                f"n_ids and embedding_dim must both be positive (a series embedding) or both 0, "
                f"got {n_ids} and {embedding_dim}",
                "pass both (n_ids: the number of series, embedding_dim: numbers per series) or neither",
            )

        self.n_targets = len(self.target_index)
        self.covariate_index = [i for i in range(self.n_inputs) if i not in self.target_index]
        # What the encoder and head see: with channel independence, a window is split into
        # n_targets sequences of one target plus all covariates (the target first); otherwise it is
        # one sequence of all channels, targets where target_index says. targets_per_sequence (S)
        # is what the head predicts per step of one sequence; sequence_target_index, where they are.
        if self.channel_independent:
            self.targets_per_sequence, self.sequence_target_index = 1, [0]
            encoder_inputs = 1 + len(self.covariate_index)
        else:
            self.targets_per_sequence, self.sequence_target_index = self.n_targets, self.target_index
            encoder_inputs = self.n_inputs

        self.norm = InstanceNorm() if self.instance_norm else None
        self.embedding = nn.Embedding(self.n_ids, self.embedding_dim) if self.n_ids else None
        self.encoder = RecurrentEncoder(
            encoder_inputs + self.embedding_dim,
            self.hidden_size,
            self.num_layers,
            self.cell,
            self.bidirectional,
            self.dropout,
        )
        width = self.encoder.output_size  # D * hidden_size
        if self.head_type == "direct":
            self.decoder = None
            self.head = nn.Linear(width, self.horizon * self.targets_per_sequence * self.n_quantiles)
        else:
            self.decoder = RecurrentEncoder(
                self.targets_per_sequence, width, self.num_layers, self.cell, False, self.dropout
            )
            self.head = nn.Linear(width, self.targets_per_sequence * self.n_quantiles)

    def config(self) -> dict[str, Any]:
        """The constructor arguments as a JSON-able dict: ``RecurrentForecaster(**model.config())`` rebuilds it."""
        return {
            "n_inputs": self.n_inputs,
            "target_index": list(self.target_index),
            "horizon": self.horizon,
            "cell": self.cell,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "dropout": self.dropout,
            "head": self.head_type,
            "teacher_forcing": self.teacher_forcing,
            "instance_norm": self.instance_norm,
            "channel_independent": self.channel_independent,
            "n_quantiles": self.n_quantiles,
            "n_ids": self.n_ids,
            "embedding_dim": self.embedding_dim,
        }

    def forward(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        tbptt_steps: int | None = None,
        ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Forecast from ``x`` (B, L, n_inputs); return (B, H, n_targets, n_quantiles).

        ``y`` (B, H, n_targets), the true future, is used only for teacher forcing by the seq2seq head
        in training mode. ``tbptt_steps`` truncates backpropagation in the encoder to the last
        ``tbptt_steps`` steps of the window (see ``RecurrentEncoder.forward``); with instance norm,
        gradient still reaches older steps through the window's mean and std. ``ids`` (B,) int64,
        the series number of each window, is required with a series embedding and refused without.
        """
        if x.dim() != 3 or x.shape[-1] != self.n_inputs:
            raise ValueError(f"x must have shape (batch, lookback, n_inputs={self.n_inputs}); got {tuple(x.shape)}")
        batch, lookback, _ = x.shape
        if y is not None and tuple(y.shape) != (batch, self.horizon, self.n_targets):
            raise ValueError(
                f"y must have shape (batch={batch}, horizon={self.horizon}, n_targets={self.n_targets}); "
                f"got {tuple(y.shape)}"
            )
        if (ids is None) != (self.embedding is None):
            raise ValueError(
                "this model has a series embedding: pass ids, the series number of each window"
                if ids is None
                else "ids were given, but this model has no series embedding"
            )

        if self.norm is not None:
            x, stats = self.norm.normalize(x)  # (B, L, n_inputs)
            if y is not None:
                y = self.norm.normalize_like(y, stats, self.target_index)  # (B, H, n_targets)

        if self.channel_independent:
            targets = x[:, :, self.target_index].permute(0, 2, 1)  # (B, n_targets, L)
            targets = targets.reshape(batch * self.n_targets, lookback, 1)  # (B * n_targets, L, 1)
            if self.covariate_index:  # no empty-index gather: ONNX exports it with a wrong shape
                covariates = x[:, :, self.covariate_index]  # (B, L, n_cov)
                covariates = covariates.repeat_interleave(self.n_targets, dim=0)  # (B * n_targets, L, n_cov)
                x = torch.cat([targets, covariates], dim=-1)  # (B * n_targets, L, 1 + n_cov)
            else:
                x = targets  # (B * n_targets, L, 1)
            if y is not None:
                y = y.permute(0, 2, 1).reshape(batch * self.n_targets, self.horizon, 1)  # (B * n_targets, H, 1)
        # from here on, B' = B * n_targets and S = 1 with channel independence, else B' = B and S = n_targets
        encoder_input = x
        if self.embedding is not None:
            if ids.shape != (batch,):
                raise ValueError(f"ids must have shape (batch={batch},); got {tuple(ids.shape)}")
            vec = self.embedding(ids)  # (B, E)
            if self.channel_independent:
                vec = vec.repeat_interleave(
                    self.n_targets, dim=0
                )  # (B', E): each target of a window, its series' vector
            vec = vec[:, None].expand(-1, lookback, -1).to(x.dtype)  # (B', L, E)
            encoder_input = torch.cat([x, vec], dim=-1)  # (B', L, inputs + E)

        _, state = self.encoder(
            encoder_input, tbptt_steps=tbptt_steps
        )  # state: (num_layers * D, B', hidden), (h, c) for LSTM
        if self.head_type == "direct":
            summary = self.encoder.summary(state)  # (B', D * hidden)
            pred = self.head(summary).view(
                -1, self.horizon, self.targets_per_sequence, self.n_quantiles
            )  # (B', H, S, Q)
        else:
            last = x[:, -1:, self.sequence_target_index]  # (B', 1, S), the last observed target values
            pred = self._decode(state, last, y)  # (B', H, S, Q)

        if self.channel_independent:
            pred = pred.view(batch, self.n_targets, self.horizon, self.n_quantiles)  # (B, n_targets, H, Q)
            pred = pred.permute(0, 2, 1, 3)  # (B, H, n_targets, Q)
        if self.norm is not None:
            pred = self.norm.denormalize(pred, stats, self.target_index)  # (B, H, n_targets, Q)
        return pred

    def _decode(self, state: State, last: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Unroll the seq2seq decoder for H steps from the encoder's final state; return (B', H, S, Q)."""
        decoder_state = self.encoder.layer_states(state)  # (num_layers, B', D * hidden), (h, c) for LSTM
        teach = self.training and y is not None
        step_input = last  # (B', 1, S)
        preds = []
        for t in range(self.horizon):
            if t > 0:
                step_input = preds[-1][:, None, :, self.n_quantiles // 2].detach()  # (B', 1, S), own prediction
                if teach and torch.rand(()).item() < self.teacher_forcing:
                    step_input = y[:, t - 1 : t]  # (B', 1, S), the truth
            out, decoder_state = self.decoder(step_input, decoder_state)  # (B', 1, D * hidden)
            preds.append(self.head(out[:, 0]).view(-1, self.targets_per_sequence, self.n_quantiles))  # (B', S, Q)
        return torch.stack(preds, dim=1)  # (B', H, S, Q)
