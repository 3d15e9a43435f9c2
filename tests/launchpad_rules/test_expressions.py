"""The rule grammar: what each check type accepts, what CUSTOM_SQL refuses, and that values never become SQL."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from launchpad_rules import ColumnRef, ParsedRule, RuleError, Value, parse_rule

INJECTION = "'; DROP TABLE x; --"


@pytest.mark.parametrize(
    "check_type, expression, parsed",
    [
        ("NOT_NULL", "", ParsedRule("NOT_NULL")),
        ("UNIQUE", "", ParsedRule("UNIQUE")),
        ("UNIQUE", '{"against_destination": true}', ParsedRule("UNIQUE", against_destination=True)),
        (
            "IS_IN_SET",
            '["North", 1, 1.5, true, 1]',
            ParsedRule("IS_IN_SET", allowed=("North", 1, Decimal("1.5"), True)),
        ),
        ("RANGE", '{"min": 0}', ParsedRule("RANGE", minimum=0)),
        ("RANGE", '{"min": 0.5, "max": 10}', ParsedRule("RANGE", minimum=Decimal("0.5"), maximum=10)),
        (
            "RANGE",
            '{"min": "2024-01-01", "max": "2024-06-30T12:00:00"}',
            ParsedRule("RANGE", minimum=date(2024, 1, 1), maximum=datetime(2024, 6, 30, 12)),
        ),
        ("REGEX", r"^SKU-\d{5}$", ParsedRule("REGEX", pattern=r"^SKU-\d{5}$")),
        ("ROW_COUNT_MIN", " 100 ", ParsedRule("ROW_COUNT_MIN", min_rows=100)),
    ],
)
def test_each_check_type_parses_to_its_normalised_value(check_type, expression, parsed):
    assert parse_rule(check_type, expression) == parsed


def test_allowed_values_read_as_postgresql_text():
    assert parse_rule("IS_IN_SET", '["North", 1, 1.5, true, false]').allowed_text == (
        "North",
        "1",
        "1.5",
        "true",
        "false",
    )


def test_a_custom_sql_condition_is_split_into_sql_columns_and_values():
    parsed = parse_rule("CUSTOM_SQL", "quantity > 0 AND Amount >= quantity * 0.5 OR \"Region\" = 'it''s'")

    assert parsed.columns == ("quantity", "amount", "Region")
    assert parsed.predicate == (
        ColumnRef("quantity"),
        " > 0 AND ",
        ColumnRef("amount"),
        " >= ",
        ColumnRef("quantity"),
        " * 0.5 OR ",
        ColumnRef("Region"),
        " = ",
        Value("it's"),
    )
    assert parsed.describe() == "quantity > 0 AND Amount >= quantity * 0.5 OR \"Region\" = 'it''s'"


@pytest.mark.parametrize(
    "expression",
    [
        "quantity > 0",
        "region IS NOT NULL AND region IN ('North', 'South')",
        "amount BETWEEN 0 AND 100",
        "email ILIKE '%@example.com' OR email LIKE 'x!_%' ESCAPE '!'",
        "CASE WHEN quantity > 10 THEN amount > 100 ELSE true END",
        "CAST(code AS integer) > 0 AND code::numeric(10, 2) < 5",
        "lower(trim(region)) <> '' AND length(coalesce(note, '')) < 200",
        "abs(round(amount, 2)) = floor(amount) OR ceil(amount) > nullif(quantity, 0)",
        "substring(sku, 1, 4) = 'SKU-' AND upper(substr(sku, 5)) = sku",
        "date_trunc('month', sale_date) = sale_date AND extract(year from sale_date) >= 2020",
        "sale_date <= current_date AND sold_at < now() + interval '1 day'",
        "quantity % 2 = 0",
        "paid",
        "NOT paid IS TRUE",
    ],
)
def test_custom_sql_accepts_row_conditions_of_the_allowed_grammar(expression):
    assert parse_rule("CUSTOM_SQL", expression).predicate


@pytest.mark.parametrize(
    "expression, message",
    [
        ("", "Enter a condition that good rows satisfy"),
        (INJECTION, "does not parse"),
        ("amount > 0; DROP TABLE x", "without ';'"),
        ("amount > 0 -- hidden", "Comments"),
        ("amount > 0 /* hidden */", "Comments"),
        ("DROP TABLE x", "not a statement"),
        ("SELECT * FROM sales WHERE amount < 0", "not a statement"),
        ("DELETE FROM sales", "not a statement"),
        ("amount > (SELECT max(amount) FROM sales)", "Subqueries are not allowed"),
        ("sale_id IN (SELECT sale_id FROM dw.sales)", "Subqueries are not allowed"),
        ("EXISTS (SELECT 1 FROM pg_user)", "Subqueries are not allowed"),
        ("sales.amount > 0", "Refer to columns by name alone"),
        ("pg_catalog.lower(region) = 'x'", "Refer to columns by name alone"),
        ("pg_sleep(10) IS NULL", "pg_sleep is not an allowed function"),
        ("pg_read_file('/etc/passwd') = ''", "pg_read_file is not an allowed function"),
        ("set_config('role', 'postgres', false) = ''", "set_config is not an allowed function"),
        ("dblink('host=x', 'select 1') IS NULL", "dblink is not an allowed function"),
        ("lo_import('/etc/passwd') > 0", "lo_import is not an allowed function"),
        ("random() > 0.5", "random is not an allowed function"),
        ("current_user = 'postgres'", "current_user is not an allowed function"),
        ("count(*) > 1", "Aggregate functions such as count"),
        ("sum(amount) OVER () > 0", "Window functions"),
        ("amount > $1", "Parameters"),
        ("amount > %s", "Parameters"),
        ("region::regclass IS NULL", "CAST to REGCLASS is not allowed"),
        ('"amount"" > 0 OR ""x" > 0', "is not a valid column name"),
        ("E'\\x41' = region", "plain single quotes"),
        ("$$x$$ = region", "plain single quotes"),
        ("region IN (sku, note)", "IN takes a list of values"),
        ("amount + 1", "true or false"),
        ("extract(foo FROM sale_date) = 1", "not a date part"),
        ("x" * 5000, "too long"),
    ],
)
def test_custom_sql_refuses_anything_outside_the_grammar(expression, message):
    with pytest.raises(RuleError) as err:
        parse_rule("CUSTOM_SQL", expression)
    assert message in err.value.message


def test_values_and_column_names_never_reach_the_generated_sql_text():
    parsed = parse_rule("CUSTOM_SQL", f"region <> '{INJECTION.replace(chr(39), chr(39) * 2)}' AND \"DROP\" > 0")

    text = "".join(part for part in parsed.predicate if isinstance(part, str))
    assert "DROP" not in text and "'" not in text
    assert Value(INJECTION) in parsed.predicate


@pytest.mark.parametrize(
    "check_type, expression, message",
    [
        ("NOT_NULL", INJECTION, "takes no expression"),
        ("UNIQUE", INJECTION, "as JSON"),
        ("UNIQUE", '{"against_destination": 1}', "true or false"),
        ("IS_IN_SET", INJECTION, "as JSON"),
        ("IS_IN_SET", "[null]", "text, numbers or true/false"),
        ("IS_IN_SET", "[NaN]", "as JSON"),
        ("RANGE", INJECTION, "as JSON"),
        ("RANGE", '{"min": "yesterday"}', "a number or an ISO date"),
        ("RANGE", '{"min": 1, "max": "2024-01-01"}', "both be numbers or both be dates"),
        ("RANGE", '{"min": "2024-02-01", "max": "2024-01-01T00:00:00"}', "greater than 'max'"),
        ("REGEX", "", "Enter a regular expression"),
        ("REGEX", "(?P<x>a)", "Python-only"),
        ("ROW_COUNT_MIN", "1; DROP TABLE x", "whole number"),
        ("ROW_COUNT_MIN", "\u0663", "whole number"),
        ("CHECK_EVERYTHING", "", "Unknown check type"),
    ],
)
def test_other_check_types_refuse_what_does_not_fit(check_type, expression, message):
    with pytest.raises(RuleError) as err:
        parse_rule(check_type, expression)
    assert message in err.value.message


def test_a_regex_is_data_so_any_valid_pattern_is_kept_verbatim():
    assert parse_rule("REGEX", INJECTION).pattern == INJECTION
