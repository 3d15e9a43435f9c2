"""Each validation rule, with values it must accept and values it must refuse (and why)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from backend.pipelines import validation as v


@pytest.mark.parametrize(
    "name, parts",
    [
        ("sales", ("sales",)),
        ("staging.sales", ("staging", "sales")),
        ("_x.Y$1", ("_x", "Y$1")),
        ("a" * 63, ("a" * 63,)),
    ],
)
def test_identifier_parts_accepts_plain_and_schema_qualified_names(name, parts):
    assert v.identifier_parts(name) == parts


@pytest.mark.parametrize(
    "name, message",
    [
        ("", "Enter a name"),
        ("a.b.c", "too many dots"),
        ("1sales", "not a valid SQL name"),
        ("sales; DROP TABLE x", "not a valid SQL name"),
        ('sa"les', "not a valid SQL name"),
        ("staging.", "not a valid SQL name"),
        ("a" * 64, "longer than PostgreSQL's limit of 63 bytes"),
        ("é" * 10, "not a valid SQL name"),
        (" sales", "spaces around it"),
    ],
)
def test_identifier_parts_refuses_unsafe_or_overlong_names(name, message):
    with pytest.raises(ValidationError) as err:
        v.identifier_parts(name)
    assert message in err.value.messages[0]


def test_column_names_cannot_be_schema_qualified():
    with pytest.raises(ValidationError, match="a single name without dots"):
        v.validate_column_name("staging.sale_id")


@pytest.mark.parametrize("value", ["sale_id", "sale_id,sale_date", "sale_id, sale_date"])
def test_column_list_accepts_comma_separated_names(value):
    v.validate_column_list(value)


@pytest.mark.parametrize(
    "value, message", [("sale_id,,x", "single commas"), ("a,a", "more than once"), ("a,1b", "not a valid SQL name")]
)
def test_column_list_refuses_bad_lists(value, message):
    with pytest.raises(ValidationError, match=message):
        v.validate_column_list(value)


@pytest.mark.parametrize("value", ["sales_*.csv", "*.csv", "report-[0-9].xlsx", "exact.csv", "data?.tsv"])
def test_file_pattern_accepts_globs_on_file_names(value):
    v.validate_file_pattern(value)


@pytest.mark.parametrize(
    "value, message",
    [
        ("in/sales_*.csv", "directory part"),
        ("..\\x.csv", "directory part"),
        ("../x", "directory part"),
        ("..", "not a file name pattern"),
        ("", "Enter a file name pattern"),
        ("a[0-9.csv", "unbalanced"),
    ],
)
def test_file_pattern_refuses_directories_and_broken_globs(value, message):
    with pytest.raises(ValidationError, match=message):
        v.validate_file_pattern(value)


@pytest.mark.parametrize("value", ["/data/in", "C:\\Pipelines\\NextGen", ""])
def test_monitored_directory_accepts_absolute_paths(value):
    v.validate_monitored_directory(value)


@pytest.mark.parametrize("value, message", [("data/in", "not an absolute path"), ("/data/../etc", "'..'")])
def test_monitored_directory_refuses_relative_and_traversing_paths(value, message):
    with pytest.raises(ValidationError, match=message):
        v.validate_monitored_directory(value)


@pytest.mark.parametrize("value", ["0 6 * * 1-5", "*/15 * * * *", "0 0 1 * *", "@daily", ""])
def test_cron_accepts_five_field_schedules(value):
    v.validate_cron(value)


@pytest.mark.parametrize(
    "value, message",
    [
        ("0 6 * * * *", "5 fields"),
        ("61 * * * *", "5 fields"),
        ("every day", "5 fields"),
        ("0 0 30 2 *", "February has no day 30"),
    ],
)
def test_cron_refuses_what_dagster_refuses(value, message):
    with pytest.raises(ValidationError, match=message):
        v.validate_cron(value)


@pytest.mark.parametrize(
    "value",
    [
        None,
        [],
        {},
        ["sale_id", "sale_date"],
        {"Sale ID": "sale_id"},
        "Sale ID > sale_id, Date > sale_date",
        [["Sale ID", "sale_id"], ["Date", "sale_date"]],
    ],
)
def test_column_mapping_accepts_positional_and_by_name(value):
    v.validate_column_mapping(value)


@pytest.mark.parametrize(
    "value, message",
    [
        ("sale_id", "is not of the form"),
        ("a > x, > y", "'> y' is not of the form"),
        ("a > x, b > x", "more than one column to x"),
        ([["a", "x"], ["b"]], "Each positional pair must be"),
        (42, "pairs in file order"),
        ([1], "must be a column name"),
        (["a", "a"], "more than one column to a"),
        ({"x": "bad name"}, "not a valid SQL name"),
        ({"": "x"}, "non-empty"),
    ],
)
def test_column_mapping_refuses_bad_targets(value, message):
    with pytest.raises(ValidationError, match=message):
        v.validate_column_mapping(value)


def test_the_text_form_is_stored_as_pairs():
    assert v.normalize_column_mapping(" Sale ID > sale_id ,Date>sale_date") == [
        ["Sale ID", "sale_id"],
        ["Date", "sale_date"],
    ]
    assert v.normalize_column_mapping({"a": "b"}) == {"a": "b"}
    assert v.normalize_column_mapping("") == ""


def test_find_cycle_reports_the_path_through_start():
    assert v.find_cycle(1, {1: [2], 2: [3], 3: [1]}) == [1, 2, 3, 1]
    assert v.find_cycle(1, {1: [2], 2: [3], 3: []}) is None


@pytest.mark.parametrize(
    "check_type, expression",
    [
        ("NOT_NULL", ""),
        ("UNIQUE", ""),
        ("IS_IN_SET", '["North", "South"]'),
        ("RANGE", '{"min": 0, "max": 100}'),
        ("RANGE", '{"min": "2024-01-01"}'),
        ("REGEX", r"^SKU-\d{4}$"),
        ("ROW_COUNT_MIN", "1"),
        ("UNIQUE", '{"against_destination": true}'),
        ("CUSTOM_SQL", "quantity > 0 AND amount >= quantity * 0.5"),
        ("CUSTOM_SQL", "coalesce(lower(region), '') IN ('north', 'south') OR sale_date >= current_date"),
    ],
)
def test_check_expression_accepts_the_shape_of_each_check_type(check_type, expression):
    v.validate_check_expression(check_type, expression)


@pytest.mark.parametrize(
    "check_type, expression, message",
    [
        ("NOT_NULL", "x", "takes no expression"),
        ("IS_IN_SET", "North,South", "as JSON"),
        ("IS_IN_SET", "[]", "at least one"),
        ("RANGE", '{"min": 5, "max": 1}', "greater than 'max'"),
        ("RANGE", '{"low": 1}', '{"min": ..., "max": ...}'),
        ("REGEX", "([a-z]", "Not a valid regular expression"),
        ("ROW_COUNT_MIN", "-1", "whole number"),
        ("UNIQUE", '{"against_destination": "yes"}', "true or false"),
        ("CUSTOM_SQL", "DELETE FROM staging.sales", "not a statement"),
        ("CUSTOM_SQL", "SELECT * FROM staging.sales WHERE amount < 0", "not a statement"),
        ("CUSTOM_SQL", "amount > 0; SELECT 2", "without ';'"),
        ("CUSTOM_SQL", "amount > (1", "does not parse"),
        ("CUSTOM_SQL", "amount + 1", "true or false"),
        ("MYSTERY", "", "Unknown check type"),
    ],
)
def test_check_expression_refuses_the_wrong_shape(check_type, expression, message):
    with pytest.raises(ValidationError) as err:
        v.validate_check_expression(check_type, expression)
    assert message in " ".join(err.value.messages)
