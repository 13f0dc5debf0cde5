"""The scikit-learn-style estimators."""

from tsrnn.estimators.detector import RNNAnomalyDetector
from tsrnn.estimators.forecaster import GRUForecaster, LSTMForecaster, RNNForecaster

__all__ = ["RNNAnomalyDetector", "RNNForecaster", "LSTMForecaster", "GRUForecaster"]
