"""Stateful training over one long series (like Keras' ``stateful=True`` RNNs).

The training rows are cut into ``batch_size`` contiguous streams; batch ``j`` holds chunk ``j``
of every stream (``chunk`` steps each), so consecutive batches continue each other in time and
the recurrent state is carried from one batch to the next, detached at every boundary. Each
step predicts the next one (many-to-many), so a series of any length trains with activation
memory O(chunk).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

from tsrnn.models.encoder import detach_state


class StreamBatches:
    """Consecutive chunks of ``streams`` parallel streams over rows ``[lo, hi)`` of ``values``.

    Each batch is (x (streams, chunk, C), y (streams, chunk, n_targets)) with y = x shifted by one step.
    """

    def __init__(self, values: torch.Tensor, lo: int, hi: int, n_targets: int, streams: int, chunk: int) -> None:
        n = hi - lo - 1  # steps that have a next step
        streams = max(1, min(streams, n // chunk))
        length = (n // streams // chunk) * chunk or n // streams
        self.x = values[lo : lo + streams * length].reshape(streams, length, -1)  # (S, T, C)
        self.y = values[lo + 1 : lo + 1 + streams * length, :n_targets].reshape(streams, length, -1)
        self.chunk = chunk
        self.batch_size = streams
        self.n_batches = -(-length // chunk)

    def __len__(self) -> int:
        return self.x.shape[0] * self.x.shape[1]

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for t in range(0, self.x.shape[1], self.chunk):
            yield self.x[:, t : t + self.chunk], self.y[:, t : t + self.chunk]


class StatefulLoss:
    """A point loss (MSE by default) of next-step predictions, carrying the detached state across
    batches; reset per epoch."""

    def __init__(self, point_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> None:
        self.state: Any = None
        self.point_loss = point_loss or torch.nn.functional.mse_loss

    def reset(self) -> None:
        self.state = None

    def __call__(self, model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        pred, state = model(x, self.state)  # (S, chunk, n_targets)
        self.state = detach_state(state)
        return self.point_loss(pred.float(), y)
