"""Recurrent models (torch only): encoder, forecaster, autoencoder, stateful next-step model, losses."""

from .autoencoder import RecurrentAutoencoder
from .encoder import CELLS, RecurrentEncoder, detach_state
from .forecaster import HEADS, RecurrentForecaster
from .losses import pinball_loss
from .norm import InstanceNorm
from .stateful import NextStepRNN

__all__ = [
    "CELLS",
    "HEADS",
    "InstanceNorm",
    "NextStepRNN",
    "RecurrentAutoencoder",
    "RecurrentEncoder",
    "RecurrentForecaster",
    "detach_state",
    "pinball_loss",
]
