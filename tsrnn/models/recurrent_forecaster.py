"""Multi-horizon forecaster: a recurrent encoder over a lookback window plus one of three heads.

Input:  x (B, L, n_inputs), a lookback window of L steps. ``target_index`` says which channels are
        the targets; the other channels are covariates (observed in the past, used as inputs only).
Output: (B, H, n_targets, n_quantiles), H = horizon steps ahead for every target channel.

The pipeline, top to bottom in :meth:`RecurrentForecaster.forward`:

1. per-window normalization (``norm``, see norm.py): ``"instance"`` (each window and channel by its
   own mean and std), ``"last"`` (each window minus its own last value) or ``"none"``; the outputs
   are mapped back with the target channels' numbers.
2. channel independence (optional): each target channel becomes its own univariate sequence
   (its values plus all covariates), all sharing the same weights.
3. tokens: per-step (``segment_length=None``) every time step is one token of the encoder; with
   ``segment_length=w`` (SegRNN's segment-wise iteration) the lookback is cut into L // w segments
   of w steps, each flattened (w * channels numbers) and embedded by ``Linear + ReLU`` into
   ``hidden_size`` numbers, so the encoder runs L // w steps instead of L. When L is not a multiple
   of w, the oldest L % w rows are dropped: every token then holds w real rows (a padded token
   would be partly invented), and the rows dropped are the oldest, which matter least. The
   normalization in step 1 still uses the whole window.
4. encoder: a stack of RNN / LSTM / GRU layers (see encoder.py), optionally bidirectional and
   with truncated BPTT (``tbptt_steps`` counts encoder steps: tokens, so segments when segmented).
5. head, one of:

   * ``"direct"``: the encoder's summary (last layer's final hidden state, both directions)
     goes through one Linear layer that emits all H steps at once.
   * ``"seq2seq"``: a recurrent decoder of the same cell type unrolls the horizon one output token
     at a time (one step, or one segment of w steps when segmented), feeding each prediction back
     as the next input (SegRNN's "recurrent multi-step forecasting" when segmented).
   * ``"parallel"``: SegRNN's parallel multi-step decoding. The horizon is M = ceil(H / w) output
     segments (w = 1 when not segmented); each has a learned position embedding and, with channel
     independence, the sequence's channel has a learned embedding too (concatenated: half the
     numbers each). One recurrent step runs from the encoder's final state with that embedding as
     its input, for all M segments in one batched call (the M steps never see each other), and a
     Linear layer maps each result to w steps; the last segment is trimmed to H.

Dropout (``dropout``) acts between stacked layers and on the features that enter the output
Linear layer of every head.

Series embedding (optional, ``n_ids`` > 0): one global model over many series can learn a vector of
``embedding_dim`` numbers per series (``nn.Embedding(n_ids, embedding_dim)``). ``forward`` then
needs ``ids`` (B,), the series number of each window; the window's vector is concatenated to every
token of the encoder (after normalization, so it is never normalised), which lets series that look
alike in a window still be forecast differently.

Design of the seq2seq decoder:

* It is unidirectional, has the encoder's number of layers, and its hidden size is the encoder's
  output size D * hidden_size (D = 2 when bidirectional). Its initial state is the encoder's final
  state with both directions of each layer concatenated (``RecurrentEncoder.layer_states``), so
  it needs no extra bridge layer, and for a unidirectional encoder it is the encoder state itself.
  The parallel head's decoder is built and started the same way.
* Its input at output token t is the target values of token t - 1: at t = 0 the last observed
  step (or segment) of the lookback; later, the previous prediction (the middle quantile, index
  n_quantiles // 2, which is the median for odd n_quantiles and symmetric quantile levels).
  Segments are embedded by their own ``Linear + ReLU``; single steps enter as they are.
* Teacher forcing: in training mode, when y is given, the input at each token t >= 1 is the true
  previous step (or segment) with probability ``teacher_forcing``: one ``torch.rand`` draw per
  token for the whole batch, so it follows ``torch.manual_seed``. In eval mode y is ignored.
* The fed-back prediction is detached: as in scheduled sampling, a fed-back value is treated as
  an input, not as a path for gradients. Gradients still flow through the decoder's recurrent
  state from every step back into the encoder; they just do not also flow back through the
  model's own earlier outputs.

Reference for segments and the parallel head: Lin et al., "SegRNN: Segment Recurrent Neural
Network for Long-Term Time Series Forecasting", arXiv 2308.11200, 2023.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from tsrnn.checks import check_choice, check_fraction, check_int, check_target_index
from tsrnn.errors import ConfigError

from .encoder import CELLS, RecurrentEncoder, State, map_state
from .norm import NORMS, make_norm

HEADS = ("direct", "seq2seq", "parallel")


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
        norm: str = "instance",
        channel_independent: bool = False,
        n_quantiles: int = 1,
        n_ids: int = 0,
        embedding_dim: int = 0,
        segment_length: int | None = None,
    ) -> None:
        """See the module docstring. ``teacher_forcing`` is used by the seq2seq head only; ``n_ids``
        series of ``embedding_dim`` learned numbers each (both 0: no series embedding);
        ``segment_length`` None: per-step tokens."""
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
        self.norm_type = check_choice("norm", norm, NORMS)
        self.channel_independent = bool(channel_independent)
        self.n_quantiles = check_int("n_quantiles", n_quantiles, 1)
        self.n_ids = check_int("n_ids", n_ids, 0)
        self.embedding_dim = check_int("embedding_dim", embedding_dim, 0)
        self.segment_length = None if segment_length is None else check_int("segment_length", segment_length, 1)
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
            channels = 1 + len(self.covariate_index)
        else:
            self.targets_per_sequence, self.sequence_target_index = self.n_targets, self.target_index
            channels = self.n_inputs
        S, Q = self.targets_per_sequence, self.n_quantiles
        self.step = self.segment_length or 1  # rows per token: in the encoder, and out of seq2seq / parallel
        self.n_out = math.ceil(self.horizon / self.step)  # output tokens of the seq2seq and parallel heads

        self.norm = make_norm(self.norm_type)
        self.embedding = nn.Embedding(self.n_ids, self.embedding_dim) if self.n_ids else None
        token_inputs = self.step * channels + self.embedding_dim  # numbers per token before any embedding
        if self.segment_length is None:
            self.segment_embed, encoder_inputs = None, token_inputs
        else:
            self.segment_embed = nn.Sequential(nn.Linear(token_inputs, self.hidden_size), nn.ReLU())
            encoder_inputs = self.hidden_size
        self.encoder = RecurrentEncoder(
            encoder_inputs, self.hidden_size, self.num_layers, self.cell, self.bidirectional, self.dropout
        )
        width = self.encoder.output_size  # D * hidden_size
        self.head_dropout = nn.Dropout(self.dropout)
        self.decoder_embed = self.positions = self.channel_vectors = self.decoder = None
        if self.head_type == "direct":
            self.head = nn.Linear(width, self.horizon * S * Q)
            return
        if self.head_type == "seq2seq":
            decoder_inputs = S
            if self.segment_length is not None:  # a fed-back segment is embedded like an encoder token
                self.decoder_embed = nn.Sequential(nn.Linear(self.step * S, width), nn.ReLU())
                decoder_inputs = width
        else:  # parallel: the decoder's input is [position vector, channel vector]
            channel_dim = width // 2 if self.channel_independent else 0
            self.positions = nn.Parameter(torch.randn(self.n_out, width - channel_dim))  # (M, width - c)
            if channel_dim:
                self.channel_vectors = nn.Parameter(torch.randn(self.n_targets, channel_dim))  # (n_targets, c)
            decoder_inputs = width
        self.decoder = RecurrentEncoder(decoder_inputs, width, self.num_layers, self.cell, False, self.dropout)
        self.head = nn.Linear(width, self.step * S * Q)

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
            "norm": self.norm_type,
            "channel_independent": self.channel_independent,
            "n_quantiles": self.n_quantiles,
            "n_ids": self.n_ids,
            "embedding_dim": self.embedding_dim,
            "segment_length": self.segment_length,
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
        in training mode. ``tbptt_steps`` truncates backpropagation in the encoder to its last
        ``tbptt_steps`` steps (tokens: segments when segmented; see ``RecurrentEncoder.forward``);
        with a normalization, gradient still reaches older steps through the window's statistics.
        ``ids`` (B,) int64, the series number of each window, is required with a series embedding
        and refused without.
        """
        if x.dim() != 3 or x.shape[-1] != self.n_inputs:
            raise ValueError(f"x must have shape (batch, lookback, n_inputs={self.n_inputs}); got {tuple(x.shape)}")
        batch, lookback, _ = x.shape
        if lookback < self.step:
            raise ValueError(f"the lookback ({lookback} steps) is shorter than one segment ({self.step} steps)")
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
        vec = None
        if self.embedding is not None:
            if ids.shape != (batch,):
                raise ValueError(f"ids must have shape (batch={batch},); got {tuple(ids.shape)}")
            vec = self.embedding(ids).to(x.dtype)  # (B, E)
            if self.channel_independent:
                vec = vec.repeat_interleave(self.n_targets, dim=0)  # (B', E): each target of a window, its series'

        _, state = self.encoder(self._tokens(x, vec), tbptt_steps=tbptt_steps)  # state: (layers * D, B', hidden)
        if self.head_type == "direct":
            summary = self.head_dropout(self.encoder.summary(state))  # (B', D * hidden)
            pred = self.head(summary).view(
                -1, self.horizon, self.targets_per_sequence, self.n_quantiles
            )  # (B', H, S, Q)
        elif self.head_type == "seq2seq":
            last = x[:, -self.step :, self.sequence_target_index]  # (B', w, S), the last observed step or segment
            pred = self._decode(state, last, y)  # (B', H, S, Q)
        else:
            pred = self._decode_parallel(state, x.shape[0])  # (B', H, S, Q)

        if self.channel_independent:
            pred = pred.reshape(batch, self.n_targets, self.horizon, self.n_quantiles)  # (B, n_targets, H, Q)
            pred = pred.permute(0, 2, 1, 3)  # (B, H, n_targets, Q)
        if self.norm is not None:
            pred = self.norm.denormalize(pred, stats, self.target_index)  # (B, H, n_targets, Q)
        return pred

    def _tokens(self, x: torch.Tensor, vec: torch.Tensor | None) -> torch.Tensor:
        """The encoder's input sequence from the windows ``x`` (B', L, F) and series vectors ``vec`` (B', E)."""
        n_tokens = x.shape[1] // self.step
        x = x[:, x.shape[1] - n_tokens * self.step :]  # (B', N * w, F): the oldest L % w rows dropped
        tokens = x.reshape(x.shape[0], n_tokens, -1)  # (B', N, w * F), each segment's rows one after another
        if vec is not None:
            tokens = torch.cat([tokens, vec[:, None].expand(-1, n_tokens, -1)], dim=-1)  # (B', N, w * F + E)
        if self.segment_embed is not None:
            tokens = self.segment_embed(tokens)  # (B', N, hidden)
        return tokens

    def _out(self, features: torch.Tensor) -> torch.Tensor:
        """The output layer on decoder features (n, width): (n, w, S, Q), w steps per output token."""
        out = self.head(self.head_dropout(features))  # (n, w * S * Q)
        return out.view(-1, self.step, self.targets_per_sequence, self.n_quantiles)  # (n, w, S, Q)

    def _decode(self, state: State, last: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Unroll the seq2seq decoder for M output tokens from the encoder's final state; return (B', H, S, Q)."""
        decoder_state = self.encoder.layer_states(state)  # (num_layers, B', D * hidden), (h, c) for LSTM
        teach = self.training and y is not None
        step_input = last  # (B', w, S)
        preds = []
        for t in range(self.n_out):
            if t > 0:
                step_input = preds[-1][..., self.n_quantiles // 2].detach()  # (B', w, S), own prediction
                if teach and torch.rand(()).item() < self.teacher_forcing:
                    step_input = y[:, (t - 1) * self.step : t * self.step]  # (B', w, S), the truth
            token = step_input.reshape(step_input.shape[0], 1, -1)  # (B', 1, w * S)
            if self.decoder_embed is not None:
                token = self.decoder_embed(token)  # (B', 1, D * hidden)
            out, decoder_state = self.decoder(token, decoder_state)  # (B', 1, D * hidden)
            preds.append(self._out(out[:, 0]))  # (B', w, S, Q)
        return torch.cat(preds, dim=1)[:, : self.horizon]  # (B', H, S, Q)

    def _decode_parallel(self, state: State, n_seq: int) -> torch.Tensor:
        """One decoder step for each of the M output tokens of the ``n_seq`` (B') sequences at once,
        from the encoder's final state."""
        decoder_state = self.encoder.layer_states(state)  # (num_layers, B', width), (h, c) for LSTM
        tokens = self.positions[None].expand(n_seq, -1, -1)  # (B', M, width - c)
        if self.channel_vectors is not None:
            channel = torch.arange(n_seq, device=tokens.device) % self.n_targets  # each sequence's target channel
            vectors = self.channel_vectors[channel][:, None].expand(-1, self.n_out, -1)  # (B', M, c)
            tokens = torch.cat([tokens, vectors], dim=-1)  # (B', M, width)
        tokens = tokens.reshape(n_seq * self.n_out, 1, -1)  # (B' * M, 1, width): M one-step sequences per B'
        decoder_state = map_state(
            decoder_state, lambda s: s.repeat_interleave(self.n_out, dim=1)
        )  # (layers, B' * M, width)
        out, _ = self.decoder(tokens, decoder_state)  # (B' * M, 1, width)
        pred = self._out(out[:, 0])  # (B' * M, w, S, Q)
        return pred.reshape(n_seq, self.n_out * self.step, *pred.shape[2:])[:, : self.horizon]  # (B', H, S, Q)
