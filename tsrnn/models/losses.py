"""Training losses: point losses by name, and the quantile (pinball) loss for probabilistic forecasts."""

from __future__ import annotations

import torch
from torch.nn import functional

# point forecasts: "mse" fits the mean, "mae" the median (robust to outliers), "huber" is MSE for
# errors under 1 (in scaled units) and MAE beyond
POINT_LOSSES = {"mse": functional.mse_loss, "mae": functional.l1_loss, "huber": functional.huber_loss}


def pinball_loss(pred: torch.Tensor, y: torch.Tensor, quantiles: torch.Tensor) -> torch.Tensor:
    """Mean pinball loss of ``pred`` (B, H, C, Q) against ``y`` (B, H, C) at quantile levels ``quantiles`` (Q,).

    For level q and error e = y - pred the loss is q * e when e >= 0 and (q - 1) * e otherwise,
    so under-forecasts cost q and over-forecasts 1 - q per unit; q = 0.5 gives half the absolute error.
    """
    quantiles = torch.as_tensor(quantiles, dtype=pred.dtype, device=pred.device)
    if quantiles.dim() != 1 or pred.shape[-1:] != quantiles.shape:
        raise ValueError(
            f"quantiles must have shape (Q,) matching pred's last dim; "
            f"got {tuple(quantiles.shape)} for pred of shape {tuple(pred.shape)}"
        )
    if bool(((quantiles <= 0) | (quantiles >= 1)).any()):
        raise ValueError(f"quantiles must lie strictly between 0 and 1; got {quantiles.tolist()}")
    if pred.shape[:-1] != y.shape:
        raise ValueError(
            f"y must have pred's shape without the quantile dim, {tuple(pred.shape[:-1])}; got {tuple(y.shape)}"
        )
    error = y.unsqueeze(-1) - pred  # (B, H, C, Q)
    return torch.maximum(quantiles * error, (quantiles - 1) * error).mean()
