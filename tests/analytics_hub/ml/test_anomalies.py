"""Anomaly detection: planted anomalies are found, ordinary points are not, and the caller's index is kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics_hub.ml.anomalies import AnomalyInputError, detect_anomalies

SPIKES = {40: 9.0, 95: -8.0, 160: 10.0, 230: -9.0, 300: 8.5}


def _seasonal_daily(seed: int = 1) -> pd.Series:
    """A year of daily values: upward trend, weekly season (amplitude 10), unit noise, and five planted spikes."""
    rng = np.random.default_rng(seed)
    days = np.arange(365)
    values = 50 + 0.05 * days + 10 * np.sin(2 * np.pi * days / 7) + rng.normal(0, 1, len(days))
    for position, size in SPIKES.items():
        values[position] += size
    return pd.Series(values, index=pd.date_range("2023-01-01", periods=365, freq="D"))


def _trending(seed: int = 2) -> pd.Series:
    """200 points on a steep trend (integer index from 1000) with three spikes and a four-point level shift."""
    rng = np.random.default_rng(seed)
    values = 3.0 * np.arange(200) + rng.normal(0, 1, 200)
    values[[30, 90, 170]] += [7.0, -7.0, 8.0]
    values[120:124] += 8.0
    return pd.Series(values, index=pd.RangeIndex(1000, 1200))


def _flagged(result: pd.DataFrame) -> list:
    return list(result.index[result["is_anomaly"]])


def test_seasonal_trending_series_flags_the_planted_spikes_and_little_else():
    y = _seasonal_daily()
    result = detect_anomalies(y)

    flagged = set(_flagged(result))
    planted = {y.index[position] for position in SPIKES}
    assert planted <= flagged
    assert len(flagged - planted) <= 1
    assert result["score"].nlargest(5).index.isin(list(planted)).all()


def test_trend_without_season_finds_spikes_and_the_whole_level_shift():
    y = _trending()
    result = detect_anomalies(y)

    planted = {1030, 1090, 1170, 1120, 1121, 1122, 1123}
    assert planted <= set(_flagged(result))
    assert len(set(_flagged(result)) - planted) <= 1


def test_constant_series_flags_nothing_and_scores_zero():
    y = pd.Series(5.0, index=pd.date_range("2024-01-01", periods=60, freq="D"))
    result = detect_anomalies(y)

    assert not result["is_anomaly"].any()
    assert (result["score"] == 0).all()


def test_one_spike_on_a_constant_series_is_the_only_anomaly():
    values = np.full(50, 3.0)
    values[17] = 4.0
    result = detect_anomalies(pd.Series(values))

    assert _flagged(result) == [17]


def test_missing_values_are_never_anomalies_and_keep_their_rows():
    y = _seasonal_daily()
    y.iloc[[0, 40, 100, 101, 364]] = np.nan
    result = detect_anomalies(y)

    assert len(result) == 365
    assert result.index.equals(y.index)
    assert not result["is_anomaly"].iloc[[0, 40, 100, 101, 364]].any()
    assert result["score"].iloc[[0, 40, 100, 101, 364]].isna().all()
    assert {y.index[p] for p in (95, 160, 230, 300)} <= set(_flagged(result))


def test_unsorted_input_keeps_its_order_and_gets_the_same_answer():
    y = _seasonal_daily()
    shuffled = y.sample(frac=1.0, random_state=3)
    in_order = detect_anomalies(y)
    result = detect_anomalies(shuffled)

    assert result.index.equals(shuffled.index)
    pd.testing.assert_frame_equal(result.sort_index(), in_order, check_freq=False)


def test_integer_index_is_preserved_and_dates_with_gaps_are_handled():
    y = _trending()
    result = detect_anomalies(y)
    assert result.index.equals(y.index)
    assert result["is_anomaly"].dtype == bool
    assert result["score"].dtype == float

    seasonal = _seasonal_daily().drop(_seasonal_daily().index[[10, 11, 12, 200]])
    gapped = detect_anomalies(seasonal)
    assert gapped.index.equals(seasonal.index)
    assert {seasonal.index[0] + pd.Timedelta(days=p) for p in SPIKES} <= set(_flagged(gapped))


def test_short_series_with_a_season_longer_than_half_of_it_is_treated_as_non_seasonal():
    y = pd.Series([10.0, 11, 10, 12, 11, 10, 30, 11, 10, 12, 11, 10], index=pd.RangeIndex(12))
    result = detect_anomalies(y, season_length=12)

    assert _flagged(result) == [6]


def test_isolation_forest_method_scores_the_largest_spike_highest():
    y = _trending()
    y.iloc[60] += 40.0
    result = detect_anomalies(y, method="isolation_forest")

    assert result.index.equals(y.index)
    assert result["score"].idxmax() == 1060
    assert result.loc[1060, "is_anomaly"]
    assert result["is_anomaly"].sum() < len(y) / 4


def test_explicit_residual_method_matches_the_default():
    y = _seasonal_daily()
    pd.testing.assert_frame_equal(detect_anomalies(y, method="residual"), detect_anomalies(y))


def test_unknown_method_is_refused_with_the_valid_names():
    with pytest.raises(AnomalyInputError) as caught:
        detect_anomalies(_trending(), method="magic")
    assert caught.value.message == (
        "Unknown anomaly detection method 'magic'. Valid methods: auto, isolation_forest, residual."
    )


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (pd.Series([], dtype=float), "The series is empty: there is nothing to check for anomalies."),
        (pd.Series([np.nan, np.nan, np.nan]), "The series has no numeric values."),
        ([1.0, 2.0, 3.0], "Expected a pandas Series of values."),
    ],
)
def test_unusable_input_is_refused_in_plain_words(y, message):
    with pytest.raises(AnomalyInputError) as caught:
        detect_anomalies(y)
    assert caught.value.message == message


def test_season_length_below_one_is_refused():
    with pytest.raises(AnomalyInputError, match="season length must be a whole number"):
        detect_anomalies(_trending(), season_length=0)


def test_spike_in_a_multiplicative_seasonal_series_is_found_without_false_alarms_at_the_big_swings():
    rng = np.random.default_rng(4)
    months = np.arange(144)
    level = 100 * np.exp(0.02 * months)
    values = level * (1 + 0.25 * np.sin(2 * np.pi * months / 12)) * np.exp(rng.normal(0, 0.01, 144))
    values[30] += 0.15 * level[30]
    y = pd.Series(values, index=pd.date_range("2010-01-01", periods=144, freq="MS"))

    assert _flagged(detect_anomalies(y)) == [y.index[30]]


def test_spike_in_a_cycle_without_a_calendar_season_is_the_only_anomaly():
    rng = np.random.default_rng(5)
    steps = np.arange(300)
    values = 10 * np.sin(2 * np.pi * steps / 17) + rng.normal(0, 0.5, 300)
    values[150] += 5.0
    result = detect_anomalies(pd.Series(values))

    assert _flagged(result) == [150]


def test_two_point_burst_is_flagged_whole_and_its_neighbours_are_not():
    rng = np.random.default_rng(6)
    values = np.cumsum(rng.normal(0, 1, 250))
    values[[100, 101]] += 8.0
    result = detect_anomalies(pd.Series(values))

    assert _flagged(result) == [100, 101]


def test_clean_trending_series_raises_no_alarm():
    rng = np.random.default_rng(7)
    values = 0.5 * np.arange(400) + 0.001 * np.arange(400) ** 2 + rng.normal(0, 1, 400)
    result = detect_anomalies(pd.Series(values, index=pd.RangeIndex(2000, 2400)))

    assert not result["is_anomaly"].any()
    assert result.index.equals(pd.RangeIndex(2000, 2400))


def test_spike_in_a_half_hourly_series_with_quiet_weekends_is_the_only_anomaly():
    rng = np.random.default_rng(8)
    index = pd.date_range("2024-01-01", periods=48 * 7 * 10, freq="30min")
    hours = index.hour.to_numpy() + index.minute.to_numpy() / 60
    daily = np.clip(np.sin(np.pi * (hours - 6) / 14), 0, None)
    weekday = np.where(index.day_of_week.to_numpy() < 5, 1.0, 0.2)
    values = 100 + 50 * daily * weekday + rng.normal(0, 0.5, len(index))
    values[2000] += 10.0
    y = pd.Series(values, index=index)

    assert _flagged(detect_anomalies(y)) == [index[2000]]


def test_constant_series_with_missing_values_flags_nothing_and_keeps_missing_scores_empty():
    y = pd.Series([2.0, np.nan, 2.0, 2.0, np.nan, 2.0, 2.0, 2.0], index=list("abcdefgh"))
    result = detect_anomalies(y)

    assert result.index.equals(y.index)
    assert not result["is_anomaly"].any()
    assert result["score"].isna().tolist() == [False, True, False, False, True, False, False, False]
