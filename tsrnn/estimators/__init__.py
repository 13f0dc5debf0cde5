"""The scikit-learn-style estimators."""

from tsrnn.estimators.forecaster import GRUForecaster, LSTMForecaster, RNNForecaster

__all__ = ["RNNForecaster", "LSTMForecaster", "GRUForecaster"]
