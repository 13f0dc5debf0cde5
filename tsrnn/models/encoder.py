"""Recurrent encoder: a thin wrapper around torch's fused nn.RNN / nn.LSTM / nn.GRU.

It adds three things to the bare torch module:

* a choice of cell by name (``"rnn"``, ``"lstm"``, ``"gru"``) and sane defaults
  (batch_first, no dropout warning with a single layer);
* truncated backpropagation through time (``tbptt_steps``), see :meth:`RecurrentEncoder.forward`;
* helpers that reshape torch's final state, ``(num_layers * D, B, hidden)`` with D = 2 when
  bidirectional, into what the forecasting heads need.

A recurrent "state" is ``h`` for RNN and GRU, or the tuple ``(h, c)`` for LSTM, each of shape
(num_layers * D, B, hidden_size), exactly as torch returns it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from tsrnn.checks import check_choice, check_fraction, check_int

CELLS = ("rnn", "lstm", "gru")
_TORCH_CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def map_state(state: State, fn: Callable[[torch.Tensor], torch.Tensor]) -> State:
    """``fn`` applied to ``h``, or to both ``h`` and ``c`` of an LSTM state."""
    if isinstance(state, tuple):
        return tuple(fn(s) for s in state)
    return fn(state)


def detach_state(state: State) -> State:
    """Return ``state`` with the same values but cut from the autograd graph behind it.

    Used when a state is carried from one chunk of a long series to the next: gradients stop at
    the chunk boundary, so backward memory and time stay bounded by the chunk length.
    """
    return map_state(state, torch.Tensor.detach)


class RecurrentEncoder(nn.Module):
    """A stack of recurrent layers (torch's fused implementation) over a (B, L, n_inputs) sequence."""

    def __init__(
        self,
        n_inputs: int,
        hidden_size: int = 64,
        num_layers: int = 2,
        cell: str = "lstm",
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        """``dropout`` acts between stacked layers during training, so it has no effect with one layer."""
        super().__init__()
        n_inputs = check_int("n_inputs", n_inputs, 1)
        self.hidden_size = check_int("hidden_size", hidden_size, 1)
        self.num_layers = check_int("num_layers", num_layers, 1)
        self.cell = check_choice("cell", cell, CELLS)
        self.num_directions = 2 if bidirectional else 1
        dropout = check_fraction("dropout", dropout, include_one=False)
        self.rnn = _TORCH_CELLS[cell](
            input_size=n_inputs,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            batch_first=True,
            bidirectional=bool(bidirectional),
            dropout=dropout if self.num_layers > 1 else 0.0,  # torch warns about dropout with one layer
        )

    @property
    def output_size(self) -> int:
        """Features per time step of the outputs: D * hidden_size."""
        return self.num_directions * self.hidden_size

    def forward(
        self, x: torch.Tensor, state: State | None = None, tbptt_steps: int | None = None
    ) -> tuple[torch.Tensor, State]:
        """Run the layers over ``x`` (B, L, n_inputs); return outputs (B, L, D * hidden) and the final state.

        With ``tbptt_steps=k`` (truncated BPTT) and k < L, the sequence is cut into consecutive chunks
        of k steps, counted back from the end so that the *last* chunk is always exactly k steps and
        the first one takes the remainder (L = 10, k = 4 gives chunks of 2, 4, 4 steps). The state
        flows from chunk to chunk, but only the last chunk is recorded by autograd; the earlier ones
        run under ``torch.no_grad()``, which is the same as detaching the state at every chunk
        boundary and also frees their activations at once. Consequences:

        * the values of the outputs and of the final state are those of a plain pass
          (for a unidirectional encoder);
        * gradients reach only the last k time steps of ``x`` (and not ``state``), and backward
          keeps activations for k steps only;
        * the outputs of the earlier chunks carry no gradient at all;
        * bidirectional: the backward direction restarts at the end of every chunk and sees only
          that chunk, so its values differ from a plain pass over the whole sequence.
        """
        if tbptt_steps is not None:
            tbptt_steps = check_int("tbptt_steps", tbptt_steps, 1)
        seq_len = x.shape[1]
        if tbptt_steps is None or tbptt_steps >= seq_len:
            return self.rnn(x, state)  # (B, L, D * hidden), state

        ends = list(range(seq_len, 0, -tbptt_steps))[::-1]  # chunk ends, e.g. [2, 6, 10] for L = 10, k = 4
        outputs = []
        start = 0
        with torch.no_grad():  # every chunk but the last: values only, no graph
            for end in ends[:-1]:
                out, state = self.rnn(x[:, start:end], state)  # (B, end - start, D * hidden)
                outputs.append(out)
                start = end
        out, state = self.rnn(x[:, start:], state)  # (B, k, D * hidden), recorded by autograd
        outputs.append(out)
        return torch.cat(outputs, dim=1), state  # (B, L, D * hidden)

    def layer_states(self, state: State) -> State:
        """Reshape a final state from (num_layers * D, B, hidden) to (num_layers, B, D * hidden).

        Each layer's forward and backward final hidden states are concatenated, [forward, backward],
        which is the layout of the outputs' feature axis. For LSTM both h and c are reshaped.
        """
        return map_state(state, self._merge_directions)

    def summary(self, state: State) -> torch.Tensor:
        """The last layer's final hidden state, both directions concatenated: (B, D * hidden)."""
        h = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c) -> h
        return self._merge_directions(h)[-1]  # (B, D * hidden)

    def _merge_directions(self, h: torch.Tensor) -> torch.Tensor:
        batch = h.shape[1]
        h = h.view(self.num_layers, self.num_directions, batch, self.hidden_size)  # (layers, D, B, hidden)
        return h.permute(0, 2, 1, 3).reshape(self.num_layers, batch, self.output_size)  # (layers, B, D * hidden)
