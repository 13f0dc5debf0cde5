"""Per-window instance normalization (RevIN without the learned affine part).

Every input window is shifted and scaled by its own per-channel mean and standard deviation
before the network sees it, and the network's outputs are mapped back with the same numbers.
The network then only has to learn the *shape* of the series, not its level or scale, which
is what lets a small RNN beat seasonal-naive on data whose level drifts (ETT, electricity, ...).

Nothing is stored on the module: ``normalize`` returns the statistics and the caller hands
them back to ``denormalize``, so one module can serve any number of batches.

Reference: Kim et al., "Reversible Instance Normalization for Accurate Time-Series
Forecasting against Distribution Shift", ICLR 2022.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

Stats = tuple[torch.Tensor, torch.Tensor]  # (mean (B, 1, C), std (B, 1, C))


class InstanceNorm(nn.Module):
    """Stateless, parameter-free per-window normalization over the time axis."""

    eps: float = 1e-5  # added to the variance so a constant window does not divide by zero

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """Same as :meth:`normalize`."""
        return self.normalize(x)

    def normalize(self, x: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """Normalize each window and channel of ``x`` (B, L, C) over L; return ``(x_norm, (mean, std))``."""
        mean = x.mean(dim=1, keepdim=True)  # (B, 1, C)
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps)  # (B, 1, C)
        return (x - mean) / std, (mean, std)  # (B, L, C)

    def normalize_like(self, y: torch.Tensor, stats: Stats, channels: Sequence[int] | None = None) -> torch.Tensor:
        """Normalize ``y`` (B, H, c, ...) with statistics from :meth:`normalize` of another tensor.

        ``channels`` picks the c channels of the statistics that ``y`` holds (None: all of them).
        """
        mean, std = _select(stats, channels, y.dim())  # (B, 1, c, 1, ...)
        return (y - mean) / std  # (B, H, c, ...)

    def denormalize(self, y: torch.Tensor, stats: Stats, channels: Sequence[int] | None = None) -> torch.Tensor:
        """Map normalized outputs ``y`` (B, H, c, ...) back to the original scale.

        ``channels`` picks the c channels of the statistics that ``y`` holds (None: all of them).
        Trailing dimensions after the channel axis (e.g. quantiles) share their channel's statistics.
        """
        mean, std = _select(stats, channels, y.dim())  # (B, 1, c, 1, ...)
        return y * std + mean  # (B, H, c, ...)


def _select(stats: Stats, channels: Sequence[int] | None, ndim: int) -> Stats:
    """Pick ``channels`` from (B, 1, C) statistics and add trailing unit dims up to ``ndim`` dimensions."""
    mean, std = stats
    if channels is not None:
        mean, std = mean[:, :, list(channels)], std[:, :, list(channels)]  # (B, 1, c)
    trailing = (1,) * (ndim - 3)
    return mean.reshape(*mean.shape, *trailing), std.reshape(*std.shape, *trailing)  # (B, 1, c, 1, ...)
