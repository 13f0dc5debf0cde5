"""tsrnn.detection.events: runs, event tables and the point / event / PR metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, precision_recall_fscore_support

from tsrnn.detection.events import (
    EVENT_COLUMNS,
    event_metrics,
    flags_to_events,
    point_metrics,
    pr_auc,
    runs,
)
from tsrnn.errors import ConfigError


def f(s: str) -> np.ndarray:
    """Flags from a string: '1' flagged, anything else not."""
    return np.array([c == "1" for c in s])


# ----------------------------------------------------------------------------- runs and events


@pytest.mark.parametrize(
    "flags, expected",
    [("", []), ("000", []), ("111", [[0, 2]]), ("0110010", [[1, 2], [5, 5]]), ("1001", [[0, 0], [3, 3]])],
)
def test_runs_are_inclusive_start_end(flags, expected):
    assert runs(f(flags)).tolist() == expected


@pytest.mark.parametrize(
    "merge_gap, min_length, expected",
    [
        (0, 1, [(0, 1), (3, 3), (7, 7), (10, 12)]),
        (1, 1, [(0, 3), (7, 7), (10, 12)]),
        (2, 1, [(0, 3), (7, 12)]),
        (0, 2, [(0, 1), (10, 12)]),
        (1, 3, [(0, 3), (10, 12)]),
        (3, 13, [(0, 12)]),
        (2, 7, []),
    ],
)
def test_merge_gap_then_min_length(merge_gap, min_length, expected):
    flags = f("1101000100111")
    ev = flags_to_events(flags, np.zeros(len(flags)), merge_gap=merge_gap, min_length=min_length)
    assert list(zip(ev["start"], ev["end"])) == expected
    assert ev["length"].tolist() == [b - a + 1 for a, b in expected]


def test_merging_comes_before_dropping_short_events():
    flags = f("101")  # two 1-point events one point apart: merged they are 3 long
    assert len(flags_to_events(flags, np.zeros(3), min_length=3)) == 0
    ev = flags_to_events(flags, np.zeros(3), merge_gap=1, min_length=3)
    assert (ev["start"].tolist(), ev["end"].tolist(), ev["length"].tolist()) == ([0], [2], [3])


def test_peak_and_top_channels():
    flags = f("0111000110")
    scores = np.array([9.0, 1.0, 5.0, 5.0, 0.0, 0.0, 0.0, 2.0, 3.0, 9.0])
    ch = np.zeros((10, 4))
    ch[1:4] = [1.0, 4.0, 2.0, 3.0]  # event 1: b, d, c (a is 4th)
    ch[7:9] = [[5.0, 0.0, 0.0, 1.0], [5.0, 0.0, 0.0, 3.0]]  # event 2: a (5), d (2), then b and c tie at 0: b first
    ev = flags_to_events(flags, scores, channel_scores=ch, channel_names=["a", "b", "c", "d"])
    assert list(ev.columns) == list(EVENT_COLUMNS)
    assert ev["peak_time"].tolist() == [2, 8]  # the first of the tied 5s; the 9s lie outside the events
    assert ev["peak_score"].tolist() == [5.0, 3.0]
    assert ev["channels"].tolist() == ["b,d,c", "a,d,b"]


def test_channels_default_names_fewer_than_three_and_none():
    ch = np.array([[1.0, 2.0], [1.0, 2.0]])
    assert flags_to_events(f("11"), np.ones(2), channel_scores=ch)["channels"].tolist() == ["1,0"]
    assert flags_to_events(f("11"), np.ones(2))["channels"].tolist() == [""]


def test_times_give_start_end_and_peak_time():
    times = pd.date_range("2024-03-01", periods=6, freq="h", tz="Europe/Paris")
    ev = flags_to_events(f("011100"), np.array([0, 1, 3, 2, 0, 0.0]), times)
    assert ev["start"].tolist() == [times[1]]
    assert ev["end"].tolist() == [times[3]]
    assert ev["peak_time"].tolist() == [times[2]]
    assert str(ev["start"].dtype) == str(times.dtype)  # the time zone is kept


def test_no_events_is_an_empty_table_with_the_columns():
    ev = flags_to_events(np.zeros(5, dtype=int), np.arange(5.0))
    assert len(ev) == 0 and list(ev.columns) == list(EVENT_COLUMNS)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"min_length": 0}, "min_length"),
        ({"min_length": 2.0}, "min_length"),
        ({"merge_gap": -1}, "merge_gap"),
        ({"channel_names": ["a"]}, "channel_names was given without channel_scores"),
        ({"channel_scores": np.ones((4, 2))}, "channel_scores must be"),
        ({"channel_scores": np.ones((5, 2)), "channel_names": ["a"]}, "channel_names has 1 names for 2 channels"),
        ({"times": np.arange(4)}, "different lengths: flags=5, times=4"),
    ],
)
def test_flags_to_events_bad_arguments(kw, match):
    with pytest.raises(ConfigError, match=match):
        flags_to_events(f("01100"), np.ones(5), **kw)


@pytest.mark.parametrize(
    "flags, scores, match",
    [
        (np.array([0, 2, 1]), np.ones(3), "flags must hold only 0/1"),
        (np.ones((3, 1)), np.ones(3), "flags must be 1-D"),
        (f("011"), np.ones((3, 2)), "scores must be 1-D"),
        (f("011"), np.ones(4), "flags=3, scores=4"),
    ],
)
def test_flags_and_scores_are_checked(flags, scores, match):
    with pytest.raises(ConfigError, match=match):
        flags_to_events(flags, scores)


# ----------------------------------------------------------------------------- metrics


def test_point_metrics_by_hand():
    m = point_metrics(f("0110011000"), f("0111000000"))  # tp 2, fp 2, fn 1
    assert m == pytest.approx({"precision": 0.5, "recall": 2 / 3, "f1": 4 / 7})


def test_point_metrics_match_sklearn_on_random_flags():
    rng = np.random.default_rng(0)
    pred, y = rng.uniform(size=500) < 0.2, rng.uniform(size=500) < 0.1
    p, r, f1, _ = precision_recall_fscore_support(y, pred, average="binary", zero_division=0)
    assert point_metrics(pred.astype(int), y) == pytest.approx({"precision": p, "recall": r, "f1": f1})


def test_metrics_with_nothing_to_count_are_zero():
    zero = {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert point_metrics(f("0000"), f("0110")) == zero
    assert event_metrics(f("0000"), f("0110")) == zero
    assert event_metrics(f("0110"), f("0000")) == zero


def test_event_metrics_by_hand():
    labels = f("0111000011100000010")  # true events: 1-3, 8-10, 17
    pred = f("0010000111110110000")  # predicted: 2 (hits 1-3), 7-11 (hits 8-10), 13-14 (false)
    # recall: 2 of 3 true events touched; precision: 2 of 3 predicted events touch a true one
    assert event_metrics(pred, labels) == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})
    # one long prediction over two true events: both found, one predicted event, a true one
    assert event_metrics(f("1111111111100000000"), labels) == pytest.approx(
        {"precision": 1.0, "recall": 2 / 3, "f1": 0.8}
    )


def test_metrics_check_lengths_and_values():
    with pytest.raises(ConfigError, match="pred_flags=3, labels=4"):
        event_metrics(f("010"), f("0100"))
    with pytest.raises(ConfigError, match="labels must hold only 0/1"):
        point_metrics(f("010"), np.array([0.0, 0.5, 1.0]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pr_auc_equals_sklearn_average_precision(seed):
    rng = np.random.default_rng(seed)
    y = rng.uniform(size=1000) < 0.05
    scores = np.round(rng.standard_normal(1000) + 1.5 * y, 1)  # rounded: many tied scores
    assert pr_auc(scores, y.astype(int)) == pytest.approx(average_precision_score(y, scores), abs=1e-12)


def test_pr_auc_of_a_perfect_ranking_is_one_and_of_all_ties_the_base_rate():
    y = f("0010011000")
    assert pr_auc(np.where(y, 2.0, 1.0), y) == 1.0
    assert pr_auc(np.ones(10), y) == pytest.approx(0.3)


@pytest.mark.parametrize(
    "scores, labels, match",
    [
        (np.ones(4), f("0000"), "labels has no anomalies"),
        (np.ones(4), f("010"), "scores=4, labels=3"),
        (np.array([1.0, np.nan]), f("01"), "scores holds 1 NaN/inf"),
        (np.ones((2, 2)), f("01"), "scores must be 1-D"),
    ],
)
def test_pr_auc_bad_arguments(scores, labels, match):
    with pytest.raises(ConfigError, match=match):
        pr_auc(scores, labels)


def test_event_flags_are_the_rows_of_the_events_reported() -> None:
    from tsrnn.detection.events import event_flags

    flags = np.array([0, 1, 0, 1, 1, 0, 0, 0, 1, 0], dtype=bool)
    assert event_flags(flags).tolist() == flags.tolist()  # nothing merged, nothing dropped
    merged = event_flags(flags, merge_gap=1)  # the gap of one row joins the first two runs
    assert merged.tolist() == [0, 1, 1, 1, 1, 0, 0, 0, 1, 0]
    kept = event_flags(flags, merge_gap=1, min_length=2)  # the lone last flag is no event
    assert kept.tolist() == [0, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    truth = np.zeros(10, bool)
    truth[1] = True
    assert event_metrics(kept, truth)["precision"] == 1.0 and event_metrics(flags, truth)["precision"] == 1 / 3
