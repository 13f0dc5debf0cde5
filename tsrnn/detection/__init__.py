"""Anomaly detection: per-row scores (``scoring``), thresholds that flag them (``thresholds``),
the anomaly likelihood of scores against their recent past (``likelihood``), and events and
evaluation metrics from the flags (``events``). numpy only; pandas is imported
inside the functions that return tables.
"""

from __future__ import annotations

from tsrnn.detection.events import (
    EVENT_COLUMNS,
    event_flags,
    event_metrics,
    flags_to_events,
    point_metrics,
    pr_auc,
    runs,
)
from tsrnn.detection.likelihood import AnomalyLikelihood, anomaly_likelihood
from tsrnn.detection.thresholds import (
    THRESHOLDS,
    apply_threshold,
    dynamic_threshold,
    fit_gpd,
    fit_threshold,
)

__all__ = [
    "EVENT_COLUMNS",
    "AnomalyLikelihood",
    "anomaly_likelihood",
    "THRESHOLDS",
    "apply_threshold",
    "dynamic_threshold",
    "event_metrics",
    "fit_gpd",
    "fit_threshold",
    "event_flags",
    "flags_to_events",
    "point_metrics",
    "pr_auc",
    "runs",
]
