"""Per-window normalization: each window is mapped by its own numbers, and the forecast mapped back.

Two kinds, chosen by name with :func:`make_norm` (``"none"`` gives no module at all):

* ``"instance"`` (:class:`InstanceNorm`, RevIN without the learned affine part): every input
  window is shifted and scaled by its own per-channel mean and standard deviation.
* ``"last"`` (:class:`LastValueNorm`): every window has its own last value subtracted, per
  channel, and the forecast has it added back; the scale is left alone. This is what SegRNN
  uses on ETT: the network learns the change from the last observation.

Either way the network only has to learn the *shape* of the series, not its level, which is
what lets a small RNN beat seasonal-naive on data whose level drifts (ETT, electricity, ...).

Nothing is stored on the modules: ``normalize`` returns the statistics and the caller hands
them back to ``denormalize``, so one module can serve any number of batches.

References: Kim et al., "Reversible Instance Normalization for Accurate Time-Series
Forecasting against Distribution Shift", ICLR 2022; Lin et al., "SegRNN: Segment Recurrent
Neural Network for Long-Term Time Series Forecasting", arXiv 2308.11200, 2023.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Sequence

import torch
from torch import nn

Stats = tuple[torch.Tensor, torch.Tensor]  # (shift (B, 1, C), scale (B, 1, C))
NORMS = ("instance", "last", "none")


def make_norm(name: str) -> nn.Module | None:
    """The normalization called ``name`` (one of ``NORMS``); None for ``"none"``."""
    return {"instance": InstanceNorm, "last": LastValueNorm}[name]() if name != "none" else None


class _WindowNorm(nn.Module, metaclass=ABCMeta):
    """Stateless, parameter-free per-window normalization: ``(x - shift) / scale`` and back.

    Subclasses say how ``(shift, scale)``, each (B, 1, C), come from a window (B, L, C).
    """

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """Same as :meth:`normalize`."""
        return self.normalize(x)

    @abstractmethod
    def stats(self, x: torch.Tensor) -> Stats:
        """The (shift, scale) of every window and channel of ``x`` (B, L, C), each (B, 1, C)."""

    def normalize(self, x: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """Normalize each window and channel of ``x`` (B, L, C); return ``(x_norm, (shift, scale))``."""
        shift, scale = stats = self.stats(x)  # (B, 1, C) each
        return (x - shift) / scale, stats  # (B, L, C)

    def normalize_like(self, y: torch.Tensor, stats: Stats, channels: Sequence[int] | None = None) -> torch.Tensor:
        """Normalize ``y`` (B, H, c, ...) with statistics from :meth:`normalize` of another tensor.

        ``channels`` picks the c channels of the statistics that ``y`` holds (None: all of them).
        """
        shift, scale = _select(stats, channels, y.dim())  # (B, 1, c, 1, ...)
        return (y - shift) / scale  # (B, H, c, ...)

    def denormalize(self, y: torch.Tensor, stats: Stats, channels: Sequence[int] | None = None) -> torch.Tensor:
        """Map normalized outputs ``y`` (B, H, c, ...) back to the original scale.

        ``channels`` picks the c channels of the statistics that ``y`` holds (None: all of them).
        Trailing dimensions after the channel axis (e.g. quantiles) share their channel's statistics.
        """
        shift, scale = _select(stats, channels, y.dim())  # (B, 1, c, 1, ...)
        return y * scale + shift  # (B, H, c, ...)


class InstanceNorm(_WindowNorm):
    """Each window and channel standardized by its own mean and standard deviation over L."""

    eps: float = 1e-5  # added to the variance so a constant window does not divide by zero

    def stats(self, x: torch.Tensor) -> Stats:
        mean = x.mean(dim=1, keepdim=True)  # (B, 1, C)
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps)  # (B, 1, C)
        return mean, std


class LastValueNorm(_WindowNorm):
    """Each window and channel shifted by its own last value; the scale is left as it is."""

    def stats(self, x: torch.Tensor) -> Stats:
        last = x[:, -1:, :]  # (B, 1, C)
        return last, torch.ones_like(last)


def _select(stats: Stats, channels: Sequence[int] | None, ndim: int) -> Stats:
    """Pick ``channels`` from (B, 1, C) statistics and add trailing unit dims up to ``ndim`` dimensions."""
    shift, scale = stats
    if channels is not None:
        shift, scale = shift[:, :, list(channels)], scale[:, :, list(channels)]  # (B, 1, c)
    trailing = (1,) * (ndim - 3)
    return shift.reshape(*shift.shape, *trailing), scale.reshape(*scale.shape, *trailing)  # (B, 1, c, 1, ...)
