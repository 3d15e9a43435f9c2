"""Forecasting engine: each method on series of known structure, the future index, intervals, auto's choice, errors."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest

from analytics_hub.ml.errors import AnalyticsError
from analytics_hub.ml.forecasting import Forecast, ForecastError, forecast, valid_methods

PATTERN = np.array([1, 3, 5, 7, 9, 11, 10, 8, 6, 4, 2, 0.0]) * 10 + 100  # one year of a monthly shape


def monthly_seasonal(years: int = 4) -> pd.Series:
    index = pd.date_range("2020-01-01", periods=12 * years, freq="MS")
    return pd.Series(np.tile(PATTERN, years), index=index)


def daily_trend(days: int = 60, slope: float = 3.0) -> pd.Series:
    index = pd.date_range("2021-01-04", periods=days, freq="D")
    return pd.Series(slope * np.arange(days) + 5.0, index=index)


def assert_ordered(result: Forecast) -> None:
    assert (result.lower <= result.mean).all() and (result.mean <= result.upper).all()
    assert result.mean.notna().all() and result.lower.notna().all() and result.upper.notna().all()


@pytest.mark.parametrize("method", ["seasonal_naive", "holt_winters", "auto"])
def test_pure_seasonal_pattern_is_forecast_almost_exactly(method):
    result = forecast(monthly_seasonal(), 12, method=method)
    np.testing.assert_allclose(result.mean.to_numpy(), PATTERN, atol=0.5)
    assert result.season_length == 12
    assert list(result.mean.index) == list(pd.date_range("2024-01-01", periods=12, freq="MS"))
    assert_ordered(result)


def test_holt_winters_extrapolates_a_linear_trend():
    result = forecast(daily_trend(), 5, method="holt_winters")
    np.testing.assert_allclose(result.mean.to_numpy(), 3.0 * np.arange(60, 65) + 5.0, rtol=1e-3)
    assert result.method == "holt_winters"


def test_theta_follows_a_trend_upwards():
    result = forecast(daily_trend(), 5, method="theta")
    assert result.method == "theta"
    assert np.all(np.diff(result.mean.to_numpy()) > 0)
    assert result.mean.iloc[0] > 170.0  # last value 182, theta damps the slope but keeps the level


def test_seasonal_naive_repeats_the_last_season_of_a_noisy_series():
    rng = np.random.default_rng(3)
    y = monthly_seasonal() + rng.normal(0, 2, 48)
    result = forecast(y, 18, method="seasonal_naive")
    expected = np.concatenate([y.to_numpy()[-12:], y.to_numpy()[-12:-6]])
    np.testing.assert_allclose(result.mean.to_numpy(), expected)
    width = (result.upper - result.lower).to_numpy()
    assert width[12] > width[0] > 0  # the second year ahead is less certain than the first


def test_prophet_follows_trend_and_stays_quiet(capfd, caplog):
    rng = np.random.default_rng(0)
    index = pd.date_range("2022-01-01", periods=120, freq="D")
    y = pd.Series(2.0 * np.arange(120) + rng.normal(0, 1, 120), index=index)
    with caplog.at_level(logging.INFO):
        result = forecast(y, 7, method="prophet")
    assert result.method == "prophet"
    np.testing.assert_allclose(result.mean.to_numpy(), 2.0 * np.arange(120, 127), atol=6.0)
    assert list(result.mean.index) == list(pd.date_range("2022-05-01", periods=7, freq="D"))
    assert_ordered(result)
    captured = capfd.readouterr()
    assert "cmdstanpy" not in captured.out + captured.err and "Chain" not in captured.out + captured.err
    assert not [r for r in caplog.records if r.name.startswith(("cmdstanpy", "prophet"))]


def test_auto_picks_a_seasonal_method_for_seasonal_data_and_a_trend_method_for_trending_data():
    rng = np.random.default_rng(1)
    seasonal = forecast(monthly_seasonal(5) + rng.normal(0, 0.5, 60), 12)
    assert "seasonal_naive" in seasonal.method or "holt_winters" in seasonal.method
    np.testing.assert_allclose(seasonal.mean.to_numpy(), PATTERN, atol=3.0)

    trending = forecast(daily_trend(80) + rng.normal(0, 0.5, 80), 7)
    assert trending.method in {"holt_winters", "theta", "ensemble(holt_winters+theta)"}
    np.testing.assert_allclose(trending.mean.to_numpy(), 3.0 * np.arange(80, 87) + 5.0, rtol=0.03)
    assert trending.backtest_errors is not None and trending.method in trending.backtest_errors


def test_future_index_continues_daily_monthly_end_quarterly_and_integer_indexes():
    daily = forecast(daily_trend(30), 3, method="naive")
    assert list(daily.mean.index) == list(pd.date_range("2021-02-03", periods=3, freq="D"))
    month_end = pd.Series(np.arange(24.0), index=pd.date_range("2020-01-31", periods=24, freq="ME"))
    assert list(forecast(month_end, 2).mean.index) == [pd.Timestamp("2022-01-31"), pd.Timestamp("2022-02-28")]
    quarterly = pd.Series(np.arange(20.0), index=pd.date_range("2000-01-01", periods=20, freq="QS"))
    assert forecast(quarterly, 2).season_length == 4
    integer = pd.Series(np.arange(30.0), index=pd.RangeIndex(100, 130))
    result = forecast(integer, 4, method="holt_winters")
    assert list(result.mean.index) == [130, 131, 132, 133]
    assert result.season_length is None


def test_season_is_inferred_from_the_index_and_can_be_overridden():
    assert forecast(daily_trend(40), 3, method="naive").season_length == 7
    weekly = pd.Series(np.arange(120.0), index=pd.date_range("2020-01-05", periods=120, freq="W-SUN"))
    assert forecast(weekly, 3, method="naive").season_length == 52
    yearly = pd.Series(np.arange(20.0), index=pd.date_range("2000-01-01", periods=20, freq="YS"))
    assert forecast(yearly, 3, method="naive").season_length is None
    y = pd.Series(np.tile([1.0, 5.0, 9.0], 10))
    result = forecast(y, 6, season_length=3, method="seasonal_naive")
    assert result.season_length == 3
    np.testing.assert_allclose(result.mean.to_numpy(), [1, 5, 9, 1, 5, 9])


def test_unsorted_index_gaps_and_nans_are_handled():
    y = monthly_seasonal()
    gappy = y.drop(y.index[[5, 17, 30]])
    gappy.iloc[10] = np.nan
    shuffled = gappy.sample(frac=1.0, random_state=7)
    result = forecast(shuffled, 6, method="seasonal_naive")
    assert list(result.mean.index) == list(pd.date_range("2024-01-01", periods=6, freq="MS"))
    np.testing.assert_allclose(result.mean.to_numpy(), PATTERN[:6])


def test_constant_negative_and_short_series_still_forecast():
    constant = forecast(pd.Series([4.0] * 30, index=pd.date_range("2020-01-01", periods=30, freq="D")), 3)
    np.testing.assert_allclose(constant.mean.to_numpy(), [4.0, 4.0, 4.0])
    assert_ordered(constant)
    negative = forecast(monthly_seasonal() - 200.0, 12, method="holt_winters")
    np.testing.assert_allclose(negative.mean.to_numpy(), PATTERN - 200.0, atol=0.5)
    two = forecast(pd.Series([1.0, np.nan, 3.0]), 2, method="holt_winters")
    assert two.method == "naive"
    np.testing.assert_allclose(two.mean.to_numpy(), [3.0, 3.0])
    assert list(two.mean.index) == [3, 4]
    short_seasonal = forecast(monthly_seasonal(1), 3)  # one year: too short for a seasonal model
    assert_ordered(short_seasonal)
    assert len(short_seasonal.mean) == 3


def test_fitting_emits_no_warnings():
    rng = np.random.default_rng(5)
    y = pd.Series(rng.normal(0, 1, 40).cumsum() + 50, index=pd.date_range("2020-01-01", periods=40, freq="MS"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for method in ("holt_winters", "theta", "auto"):
            assert_ordered(forecast(y, 6, method=method))


@pytest.mark.parametrize(
    ("y", "words"),
    [
        (pd.Series([], dtype=float), "this series has 0"),
        (pd.Series([np.nan, np.nan, np.nan]), "this series has 0"),
        (pd.Series([7.0]), "this series has 1"),
        (pd.Series(["a", "b", "c"]), "this series has 0"),
    ],
)
def test_too_little_data_is_refused_in_plain_words(y, words):
    with pytest.raises(ForecastError) as caught:
        forecast(y, 3)
    assert isinstance(caught.value, AnalyticsError)
    assert caught.value.message == f"At least 2 values are needed to forecast; {words}."


def test_bad_arguments_are_refused_in_plain_words():
    y = monthly_seasonal()
    with pytest.raises(ForecastError) as unknown:
        forecast(y, 3, method="arima")
    assert unknown.value.message == (
        "Unknown forecasting method 'arima'. Choose one of: auto, holt_winters, naive, prophet, seasonal_naive, theta."
    )
    assert valid_methods() == ("auto", "holt_winters", "naive", "prophet", "seasonal_naive", "theta")
    for horizon in (0, -2, 1.5):
        with pytest.raises(ForecastError, match="horizon must be a whole number"):
            forecast(y, horizon)
    with pytest.raises(ForecastError, match="season length must be"):
        forecast(y, 3, season_length=0)
    with pytest.raises(ForecastError, match="Expected a pandas Series"):
        forecast([1.0, 2.0, 3.0], 3)


def test_auto_on_a_long_series_with_a_long_horizon_backtests_every_window():
    """Backtest windows reaching back past the recent stretch the models fit must still have data to fit."""
    index = pd.date_range("2023-01-01", periods=731, freq="D")
    weekly = np.tile([1.0, 1.0, 1.0, 1.0, 1.1, 1.4, 1.2], 105)[:731]
    y = pd.Series(1000 * weekly * (1 + np.arange(731) / 2000), index=index)

    result = forecast(y, 60)

    assert len(result.mean) == 60 and result.mean.index[0] == pd.Timestamp("2025-01-01")
    assert result.mean.iloc[5] == pytest.approx(y.iloc[-2] * (1 + 7 / 2000), rel=0.05)  # same weekday a week on


def test_periods_in_give_periods_out_with_their_season():
    y = pd.Series(np.tile(np.arange(12.0), 5) + 100, index=pd.period_range("2020-01", periods=60, freq="M"))

    result = forecast(y, 3, method="seasonal_naive")

    assert list(result.mean.index) == list(pd.period_range("2025-01", periods=3, freq="M"))
    assert result.season_length == 12
    assert result.mean.tolist() == [100.0, 101.0, 102.0]


def test_a_series_indexed_by_python_dates_is_a_daily_series():
    import datetime as dt

    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(56)]
    y = pd.Series([10.0 + (d.weekday() == 5) * 5 for d in days], index=days)

    result = forecast(y, 7, method="seasonal_naive")

    assert result.season_length == 7
    assert result.mean.index[0] == pd.Timestamp("2024-02-26")
    assert result.mean.tolist() == [10.0, 10.0, 10.0, 10.0, 10.0, 15.0, 10.0]
