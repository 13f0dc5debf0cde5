"""The scikit-learn-style estimators: one shared core (``core.RecurrentEstimator``) plus a
forecasting module (``RNNForecaster``) or a scoring method (``RNNAnomalyDetector``, ``scorers``)."""

from tsrnn.estimators.core import RecurrentEstimator
from tsrnn.estimators.detector import RNNAnomalyDetector
from tsrnn.estimators.forecaster import GRUForecaster, LSTMForecaster, RNNForecaster

__all__ = ["RecurrentEstimator", "RNNAnomalyDetector", "RNNForecaster", "LSTMForecaster", "GRUForecaster"]
