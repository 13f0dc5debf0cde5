"""Recurrent models (torch only): encoder, forecaster, autoencoder, both side by side, stateful next-step
model, losses."""

from .autoencoder import RecurrentAutoencoder
from .encoder import CELLS, RecurrentEncoder, detach_state
from .hybrid import ForecastAndReconstruct
from .losses import POINT_LOSSES, pinball_loss
from .next_step import NextStepRNN
from .norm import NORMS, InstanceNorm, LastValueNorm
from .recurrent_forecaster import HEADS, RecurrentForecaster

__all__ = [
    "CELLS",
    "ForecastAndReconstruct",
    "HEADS",
    "InstanceNorm",
    "LastValueNorm",
    "NORMS",
    "POINT_LOSSES",
    "NextStepRNN",
    "RecurrentAutoencoder",
    "RecurrentEncoder",
    "RecurrentForecaster",
    "detach_state",
    "pinball_loss",
]
