"""Series preparation: season length from the index, a regular grid whatever the index's time unit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics_hub.ml.errors import AnalyticsError
from analytics_hub.ml.series import future_index, infer_season_length, regular_series


@pytest.mark.parametrize(
    "freq, season",
    [("D", 7), ("B", 5), ("W", 52), ("MS", 12), ("ME", 12), ("QS", 4), ("h", 24), ("2h", 12), ("30min", 48),
     ("15min", 96), ("5min", 288), ("min", 60), ("YS", None), ("2D", None)],
)  # fmt: skip
def test_season_length_follows_the_index_frequency(freq, season):
    assert infer_season_length(pd.date_range("2024-01-01", periods=40, freq=freq)) == season


def test_no_season_for_integer_or_short_indexes():
    assert infer_season_length(pd.RangeIndex(100)) is None
    assert infer_season_length(pd.date_range("2024-01-01", periods=2, freq="D")) is None


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_a_daily_series_with_a_gap_becomes_a_daily_grid_whatever_the_time_unit(unit):
    index = pd.DatetimeIndex(["2024-01-03", "2024-01-01", "2024-01-02", "2024-01-05"]).as_unit(unit)
    y = pd.Series([3.0, 1.0, 2.0, 5.0], index=index)

    regular = regular_series(y)

    assert regular.index.freqstr == "D"
    assert regular.to_list() == [1.0, 2.0, 3.0, 4.0, 5.0]  # sorted, the missing day interpolated
    assert infer_season_length(regular.index) == 7
    assert list(future_index(regular.index, 2)) == [pd.Timestamp("2024-01-06"), pd.Timestamp("2024-01-07")]


def test_integer_indexes_continue_with_integers():
    assert list(future_index(pd.Index([10, 11, 12]), 3)) == [13, 14, 15]


def test_duplicate_labels_keep_the_last_value_and_text_becomes_nan_then_filled():
    y = pd.Series(["1", "x", "3", "4"], index=pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-03"]))

    regular = regular_series(y)

    assert regular.to_list() == [1.0, 2.5, 4.0]


def test_a_series_without_numbers_is_refused():
    with pytest.raises(AnalyticsError, match="no numeric values"):
        regular_series(pd.Series([np.nan, "a"]))


def test_time_labels_of_every_common_kind_become_a_datetime_index():
    import datetime as dt

    from analytics_hub.ml.series import time_index

    periods = pd.period_range("2024-01", periods=3, freq="M")
    assert list(time_index(periods)) == list(pd.date_range("2024-01-01", periods=3, freq="MS"))
    dates = pd.Index([dt.date(2024, 1, 1), dt.date(2024, 1, 2)], dtype=object)  # how PostgreSQL dates arrive
    assert list(time_index(dates)) == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02")]
    assert list(time_index(pd.Index(["2024-01-01", "2024-01-02"]))) == [
        pd.Timestamp("2024-01-01"),
        pd.Timestamp("2024-01-02"),
    ]
    for other in (pd.Index(["a", "b"]), pd.Index(["1", "2"]), pd.RangeIndex(3), pd.Index([0.5, 1.0])):
        assert time_index(other) is other
