"""The overview's chart choice from column types, and the data each chart draws."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from analytics_hub.ml.charts import ChartSpec, chart_data, column_roles, suggest_chart


def test_time_and_measure_make_a_line_of_the_measure_over_time():
    frame = pd.DataFrame(
        {
            "order_id": [1, 2, 3],
            "day": [dt.date(2024, 1, 2), dt.date(2024, 1, 1), dt.date(2024, 1, 1)],
            "region": ["N", "S", "N"],
            "amount": [5.0, 2.0, 3.0],
        }
    )

    spec = suggest_chart(frame)

    assert (spec.kind, spec.x, spec.y) == ("line", "day", "amount")
    drawn = chart_data(frame, spec)
    assert drawn["amount"].tolist() == [5.0, 5.0]  # summed per day, in day order
    assert drawn["day"].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02")]


def test_category_and_measure_make_a_bar_per_category_largest_first():
    frame = pd.DataFrame({"region": ["N", "S", "N", "E"], "amount": [1, 10, 2, 4], "qty": [1, 1, 1, 1]})

    spec = suggest_chart(frame)

    assert (spec.kind, spec.x, spec.y) == ("bar", "region", "amount")
    assert chart_data(frame, spec).to_dict("records") == [
        {"region": "S", "amount": 10},
        {"region": "E", "amount": 4},
        {"region": "N", "amount": 3},
    ]


def test_two_measures_make_a_scatter_and_row_ids_are_not_measures():
    frame = pd.DataFrame({"customer_id": [1, 2, 3], "age": [30, 40, 50], "spend": [1.5, 2.5, 9.0]})

    assert column_roles(frame).measures == ("age", "spend")
    spec = suggest_chart(frame)
    assert (spec.kind, spec.x, spec.y) == ("scatter", "age", "spend")


def test_one_measure_makes_a_histogram_and_categories_alone_make_counts():
    assert suggest_chart(pd.DataFrame({"price": [1.0, 2.0]})).kind == "histogram"
    counts = pd.DataFrame({"status": ["ok", "late", "ok"]})
    spec = suggest_chart(counts)
    assert (spec.kind, spec.x) == ("count", "status")
    assert chart_data(counts, spec).to_dict("records") == [{"status": "ok", "rows": 2}, {"status": "late", "rows": 1}]


def test_nothing_to_draw_gives_none():
    assert suggest_chart(pd.DataFrame({"a": []})) is None
    free_text = pd.DataFrame({"note": [f"text {i}" for i in range(100)], "row_id": range(100)})
    assert suggest_chart(free_text) is None


def test_timestamps_with_time_zones_are_times():
    frame = pd.DataFrame({"at": pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC"), "v": [1, 2, 3]})
    assert suggest_chart(frame) == ChartSpec("line", "at", "v", "v over at")


def test_an_unknown_chart_kind_is_refused_by_name():
    with pytest.raises(ValueError, match="Unknown chart kind 'pie'"):
        chart_data(pd.DataFrame({"a": [1]}), ChartSpec("pie", "a", None, ""))


def test_postgres_numeric_values_are_measures():
    from decimal import Decimal

    frame = pd.DataFrame({"region": ["N", "S"], "amount": [Decimal("1.50"), Decimal("2.25")]})

    spec = suggest_chart(frame)

    assert (spec.kind, spec.y) == ("bar", "amount")
    assert chart_data(frame, spec)["amount"].tolist() == [2.25, 1.5]
