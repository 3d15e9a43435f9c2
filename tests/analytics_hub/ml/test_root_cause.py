"""Root-cause analysis: the segment that drives a change ranks first, with exact sums, shares and plain errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from analytics_hub.ml.root_cause import ALL, RootCauseInputError, explain_change

PERIODS = {"baseline": ("2024-01-01", "2024-01-28"), "current": ("2024-02-01", "2024-02-28")}


def _sales(driver_value: float = 40.0) -> pd.DataFrame:
    """10 a day per region x channel over Jan-Feb 2024; North/Web sells ``driver_value`` a day in February."""
    days = pd.date_range("2024-01-01", "2024-02-29", freq="D")
    grid = pd.MultiIndex.from_product(
        [days, ["North", "South", "East"], ["Web", "Store", "App"]], names=["day", "region", "channel"]
    ).to_frame(index=False)
    driver = (grid["day"].dt.month == 2) & (grid["region"] == "North") & (grid["channel"] == "Web")
    grid["sales"] = np.where(driver, driver_value, 10.0)
    return grid


def _explain(df: pd.DataFrame, **overrides) -> pd.DataFrame:
    options = {"metric": "sales", "dimensions": ["region", "channel"], "date_column": "day", **PERIODS}
    return explain_change(df, **{**options, **overrides})


def test_the_combination_that_drives_the_change_ranks_first_with_exact_sums():
    result = _explain(_sales())

    first = result.iloc[0]
    assert first["segment"] == "region = North, channel = Web"
    assert (first["region"], first["channel"]) == ("North", "Web")
    assert (first["baseline"], first["current"], first["change"], first["contribution"]) == (280.0, 1120.0, 840.0, 1.0)
    assert list(result["segment"].iloc[1:3]) == ["channel = Web", "region = North"]
    assert result.loc[result["segment"] == "region = South", "change"].item() == 0.0
    assert len(result) == 3 + 3 + 9


def test_contributions_of_each_dimension_sum_to_one():
    rng = np.random.default_rng(4)
    df = _sales()
    df["sales"] = rng.gamma(2.0, 5.0, len(df))
    result = _explain(df)

    for dimension, other in (("region", "channel"), ("channel", "region")):
        singles = result[(result[other] == ALL) & (result[dimension] != ALL)]
        assert len(singles) == 3
        assert singles["contribution"].sum() == pytest.approx(1.0)
    pairs = result[result["dimension_count"] == 2]
    assert pairs["contribution"].sum() == pytest.approx(1.0)
    assert result["change"].abs().iloc[0] == result["change"].abs().max()


def test_a_segment_in_only_one_period_counts_zero_in_the_other():
    df = _sales()
    launch = pd.DataFrame(
        {"day": pd.date_range("2024-02-01", periods=4), "region": "West", "channel": "Web", "sales": 5.0}
    )
    result = _explain(pd.concat([df, launch], ignore_index=True)).set_index("segment")

    west = result.loc["region = West"]
    assert (west["baseline"], west["current"], west["change"]) == (0.0, 20.0, 20.0)
    assert west["contribution"] == pytest.approx(20.0 / 860.0)


def test_no_total_change_gives_nan_contributions_without_failing():
    result = _explain(_sales(driver_value=10.0))

    assert result["change"].eq(0).all()
    assert result["contribution"].isna().all()


def test_missing_dimension_values_show_as_missing():
    df = _sales()
    df.loc[df["region"] == "East", "region"] = None
    result = _explain(df)

    assert "region = (missing)" in set(result["segment"])
    assert result.loc[result["segment"] == "region = (missing)", "baseline"].item() == 28 * 3 * 10.0


def test_period_bounds_accept_dates_and_timestamps_and_include_the_whole_end_day():
    df = _sales()
    df["day"] = df["day"] + pd.Timedelta(hours=15)
    result = _explain(
        df, baseline=(dt.date(2024, 1, 1), dt.date(2024, 1, 28)), current=(pd.Timestamp("2024-02-01"), "2024-02-28")
    )

    assert result.iloc[0][["baseline", "current", "change"]].tolist() == [280.0, 1120.0, 840.0]


def test_unknown_column_is_named_in_the_error():
    with pytest.raises(RootCauseInputError) as caught:
        _explain(_sales(), dimensions=["region", "country"])
    assert caught.value.message == "Column 'country' is not in the data."
    assert "region" in caught.value.detail


def test_an_empty_period_is_refused_in_plain_words():
    with pytest.raises(RootCauseInputError) as caught:
        _explain(_sales(), current=("2025-01-01", "2025-01-31"))
    assert caught.value.message == "No rows fall in the current period (2025-01-01 to 2025-01-31)."


def test_a_period_that_ends_before_it_starts_is_refused():
    with pytest.raises(RootCauseInputError, match="baseline period starts after it ends"):
        _explain(_sales(), baseline=("2024-01-31", "2024-01-01"))


def test_no_dimensions_is_refused():
    with pytest.raises(RootCauseInputError, match="at least one dimension"):
        _explain(_sales(), dimensions=[])
