"""Quality rules over one run's staging rows: counts, samples, severities, scans, and injection attempts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql

from dagster_code.engine.errors import QualityError
from dagster_code.engine.quality import QualityRule, RuleResult, evaluate_rules

INJECTION = "'; DROP TABLE x; --"


def ident(name: str) -> sql.Identifier:
    return sql.Identifier(*name.split("."))


def table_rows(conn: psycopg.Connection, table: str) -> list[tuple]:
    rows = conn.execute(sql.SQL("SELECT * FROM {}").format(ident(table))).fetchall()
    return sorted(rows, key=lambda row: [(value is None, str(value)) for value in row])


RUN_1 = [
    (1, date(2024, 1, 5), "North", Decimal("10.00"), 2, "a@x.com"),
    (2, date(2024, 1, 6), "South", Decimal("-5.00"), 1, "b@x.com"),
    (3, date(2024, 2, 1), "Mars", Decimal("7.00"), 3, "not-an-email"),
    (4, None, "North", Decimal("3.00"), 0, "c@x.com"),
    (4, date(2025, 7, 1), None, None, 1, None),
    (6, date(2024, 3, 1), "East", Decimal("12.00"), 4, "d@x.com"),
]
RUN_0 = [(1, None, "Mars", Decimal("-100.00"), 0, "bad"), (7, None, "Venus", Decimal("-1.00"), 0, "worse")]


@pytest.fixture
def tables(warehouse: psycopg.Connection, warehouse_schema: str) -> dict[str, str]:
    """Staging ``stg`` with six rows of run-1 (a few bad) and two bad rows of run-0; destination ``sales``; ``x``."""
    names = {key: f"{warehouse_schema}.{key}" for key in ("stg", "sales", "x")}
    warehouse.execute(
        sql.SQL(
            "CREATE TABLE {} (sale_id integer, sale_date date, region text, amount numeric(12, 2), "
            "quantity integer, email text, dagster_run_id text)"
        ).format(ident(names["stg"]))
    )
    with warehouse.cursor() as cursor:
        cursor.executemany(
            sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s, %s, %s, %s)").format(ident(names["stg"])),
            [(*row, "run-1") for row in RUN_1] + [(*row, "run-0") for row in RUN_0],
        )
    warehouse.execute(sql.SQL("CREATE TABLE {} (sale_id integer, amount numeric)").format(ident(names["sales"])))
    warehouse.execute(sql.SQL("INSERT INTO {} VALUES (6, 1), (99, 1)").format(ident(names["sales"])))
    warehouse.execute(sql.SQL("CREATE TABLE {} (id integer)").format(ident(names["x"])))
    return names


def rule(tables: dict[str, str], check_type: str, column: str = "", expression: str = "", **kwargs) -> QualityRule:
    name = kwargs.pop("name", f"{check_type.lower()}_{column or 'rows'}")
    return QualityRule(
        name=name, table=tables["stg"], column=column, check_type=check_type, expression=expression, **kwargs
    )


def evaluate(conn: psycopg.Connection, tables: dict[str, str], *rules: QualityRule, **kwargs) -> list[RuleResult]:
    return evaluate_rules(conn, table=tables["stg"], run_id="run-1", rules=list(rules), **kwargs)


REGIONS = '["North", "South", "East", "West"]'
EMAIL = r"^[^@]+@[^@]+\.[a-z]+$"


@pytest.mark.parametrize(
    "check_type, column, expression, failing, sample",
    [
        ("NOT_NULL", "sale_date", "", 1, ({"sale_id": 4, "sale_date": None},)),
        ("NOT_NULL", "region", "", 1, ({"sale_id": 4, "region": None},)),
        ("UNIQUE", "sale_id", "", 2, ({"sale_id": 4, "rows": 2},)),
        ("IS_IN_SET", "region", REGIONS, 1, ({"sale_id": 3, "region": "Mars"},)),
        ("RANGE", "amount", '{"min": 0}', 1, ({"sale_id": 2, "amount": Decimal("-5.00")},)),
        (
            "RANGE",
            "sale_date",
            '{"min": "2024-01-01", "max": "2024-12-31"}',
            1,
            ({"sale_id": 4, "sale_date": date(2025, 7, 1)},),
        ),
        ("REGEX", "email", EMAIL, 1, ({"sale_id": 3, "email": "not-an-email"},)),
        ("ROW_COUNT_MIN", "", "7", 1, ()),
        (
            "CUSTOM_SQL",
            "",
            "quantity > 0 AND amount >= quantity * 0.5",
            2,
            (
                {"sale_id": 2, "quantity": 1, "amount": Decimal("-5.00")},
                {"sale_id": 4, "quantity": 0, "amount": Decimal("3.00")},
            ),
        ),
    ],
)
def test_each_check_counts_the_failing_rows_of_the_run_and_samples_them(
    warehouse, tables, check_type, column, expression, failing, sample
):
    [result] = evaluate(warehouse, tables, rule(tables, check_type, column, expression))

    assert (result.rows_checked, result.rows_failing, result.passed, result.sample) == (6, failing, False, sample)


@pytest.mark.parametrize(
    "check_type, column, expression",
    [
        ("NOT_NULL", "sale_id", ""),
        ("UNIQUE", "email", ""),
        ("IS_IN_SET", "region", '["North", "South", "East", "West", "Mars"]'),
        ("IS_IN_SET", "quantity", "[0, 1, 2, 3, 4]"),
        ("RANGE", "amount", '{"min": -5, "max": 12.5}'),
        ("RANGE", "sale_date", '{"max": "2025-07-01"}'),
        ("REGEX", "email", "^[a-z]"),
        ("ROW_COUNT_MIN", "", "6"),
        ("CUSTOM_SQL", "", "amount IS NULL OR amount > -10"),
        ("CUSTOM_SQL", "", "lower(region) IN ('north', 'south', 'east', 'west', 'mars') AND sale_id BETWEEN 1 AND 6"),
    ],
)
def test_each_check_passes_when_every_row_of_the_run_satisfies_it(warehouse, tables, check_type, column, expression):
    [result] = evaluate(warehouse, tables, rule(tables, check_type, column, expression))

    assert (result.rows_checked, result.rows_failing, result.passed, result.sample) == (6, 0, True, ())


def test_nulls_fail_only_not_null(warehouse, tables):
    """Row 5 has NULL region, amount and email: only NOT_NULL counts it (as SQL CHECK constraints would)."""
    results = evaluate(
        warehouse,
        tables,
        rule(tables, "NOT_NULL", "email"),
        rule(tables, "IS_IN_SET", "email", '["a@x.com", "b@x.com", "c@x.com", "d@x.com", "not-an-email"]'),
        rule(tables, "RANGE", "amount", '{"min": -10}'),
        rule(tables, "REGEX", "email", "."),
        rule(tables, "CUSTOM_SQL", "", "amount > -10"),
    )

    assert [r.rows_failing for r in results] == [1, 0, 0, 0, 0]


def test_rows_of_other_runs_are_not_checked(warehouse, tables):
    results = evaluate_rules(
        warehouse,
        table=tables["stg"],
        run_id="run-0",
        rules=[
            rule(tables, "NOT_NULL", "sale_date"),
            rule(tables, "UNIQUE", "sale_id"),
            rule(tables, "ROW_COUNT_MIN", "", "3"),
        ],
    )

    assert [(r.rows_checked, r.rows_failing) for r in results] == [(2, 2), (2, 0), (2, 1)]


def test_an_unknown_run_has_no_rows_and_fails_only_row_counts(warehouse, tables):
    results = evaluate_rules(
        warehouse,
        table=tables["stg"],
        run_id="no-such-run",
        rules=[rule(tables, "NOT_NULL", "sale_date"), rule(tables, "ROW_COUNT_MIN", "", "1")],
    )

    assert [(r.rows_checked, r.passed) for r in results] == [(0, True), (0, False)]


def test_fail_and_warn_rules_keep_their_severity_and_only_failing_fail_rules_block(warehouse, tables):
    results = evaluate(
        warehouse,
        tables,
        rule(tables, "NOT_NULL", "sale_date", severity="FAIL"),
        rule(tables, "IS_IN_SET", "region", REGIONS, severity="WARN"),
        rule(tables, "NOT_NULL", "sale_id", severity="FAIL"),
    )

    assert [(r.severity, r.passed, r.blocks_run) for r in results] == [
        ("FAIL", False, True),
        ("WARN", False, False),
        ("FAIL", True, False),
    ]


def test_messages_name_the_rule_the_count_and_sample_keys(warehouse, tables):
    results = evaluate(
        warehouse,
        tables,
        rule(tables, "RANGE", "amount", '{"min": 0}', name="amount_positive"),
        rule(tables, "CUSTOM_SQL", "", "quantity > 0 AND amount >= quantity * 0.5", name="amount_covers_quantity"),
        rule(tables, "UNIQUE", "sale_id", name="sale_id_unique"),
        rule(tables, "ROW_COUNT_MIN", "", "10", name="enough_rows"),
        rule(tables, "NOT_NULL", "sale_id", name="has_id"),
        key_columns=["sale_id"],
    )

    assert [r.message for r in results] == [
        "amount_positive: 1 of 6 rows fail (RANGE on amount, min 0). Sample: sale_id=2.",
        "amount_covers_quantity: 2 of 6 rows fail (CUSTOM_SQL, quantity > 0 AND amount >= quantity * 0.5). "
        "Sample: sale_id=2, sale_id=4.",
        "sale_id_unique: 2 of 6 rows fail (UNIQUE on sale_id): 2 rows share 1 repeated value. "
        "Sample: sale_id=4 (2 rows).",
        "enough_rows: only 6 rows, 4 short of the minimum of 10 (ROW_COUNT_MIN).",
        "has_id: all 6 rows pass (NOT_NULL on sale_id).",
    ]


def test_unique_against_the_destination_also_counts_keys_already_loaded(warehouse, tables):
    [within, against] = evaluate(
        warehouse,
        tables,
        rule(tables, "UNIQUE", "sale_id", name="within_run"),
        rule(tables, "UNIQUE", "sale_id", '{"against_destination": true}', name="against_destination"),
        destination=tables["sales"],
    )

    assert (within.rows_failing, within.sample) == (2, ({"sale_id": 4, "rows": 2},))
    assert (against.rows_failing, against.sample) == (
        3,
        ({"sale_id": 4, "rows": 2}, {"sale_id": 6, "rows": 1, "in_destination": True}),
    )
    assert against.message.endswith(
        "2 rows share 1 repeated value; 1 row has a value the destination already holds. "
        "Sample: sale_id=4 (2 rows), sale_id=6 (already loaded)."
    )


def test_unique_on_text_finds_the_exact_repeated_values(warehouse, warehouse_schema, tables):
    """Text keys are grouped by hash first, then by value; the counts and samples are exact values."""
    known = f"{warehouse_schema}.customers"
    warehouse.execute(sql.SQL("CREATE TABLE {} (email varchar(40), region text)").format(ident(known)))
    warehouse.execute(sql.SQL("INSERT INTO {} VALUES ('d@x.com', NULL), ('z@x.com', 'Mars')").format(ident(known)))

    [region, email] = evaluate(
        warehouse,
        tables,
        rule(tables, "UNIQUE", "region"),
        rule(tables, "UNIQUE", "email", '{"against_destination": true}'),
        destination=known,
    )

    assert (region.rows_failing, region.sample) == (2, ({"region": "North", "rows": 2},))
    assert (email.rows_failing, email.sample) == (1, ({"email": "d@x.com", "rows": 1, "in_destination": True},))


def test_unique_on_text_follows_the_columns_collation_and_counts_every_repeat(warehouse, warehouse_schema):
    """Values equal under a case-insensitive collation are one value; a value three times is three failing rows."""
    collation = f"{warehouse_schema}.nocase"
    try:
        warehouse.execute(
            sql.SQL("CREATE COLLATION {} (provider = icu, locale = 'und-u-ks-level2', deterministic = false)").format(
                ident(collation)
            )
        )
    except psycopg.errors.FeatureNotSupported:
        pytest.skip("this PostgreSQL is built without ICU")
    table = f"{warehouse_schema}.people"
    warehouse.execute(
        sql.SQL("CREATE TABLE {} (id integer, email text COLLATE {}, dagster_run_id text)").format(
            ident(table), ident(collation)
        )
    )
    emails = ["A@x.com", "a@x.com", "b@x.com", "C@x.com", "c@X.com", "c@x.COM", "d@x.com", None, None]
    with warehouse.cursor() as cursor:
        cursor.executemany(
            sql.SQL("INSERT INTO {} VALUES (%s, %s, 'run-1')").format(ident(table)), list(enumerate(emails))
        )
        cursor.execute(sql.SQL("INSERT INTO {} VALUES (99, 'B@X.COM', 'run-0')").format(ident(table)))

    [email] = evaluate_rules(
        warehouse, table=table, run_id="run-1", rules=[QualityRule("email_unique", table, "email", "UNIQUE", "")]
    )

    assert email.rows_failing == 5  # 2 spellings of a@x.com, 3 of c@x.com; b@x.com's twin is another run's
    assert [(s["email"].lower(), s["rows"]) for s in email.sample] == [("a@x.com", 2), ("c@x.com", 3)]


def test_unique_against_the_destination_needs_the_destination(warehouse, tables):
    with pytest.raises(QualityError, match="needs the destination table"):
        evaluate(warehouse, tables, rule(tables, "UNIQUE", "sale_id", '{"against_destination": true}'))


def test_every_rule_is_counted_by_one_statement_of_one_scan_and_one_branch_per_unique_column(
    warehouse_url, warehouse_schema, tables
):
    statements: list[str] = []

    class RecordingCursor(psycopg.Cursor):
        def execute(self, query, params=None, **kwargs):
            text = query.as_string(self.connection) if isinstance(query, sql.Composable) else str(query)
            statements.append(text)
            return super().execute(query, params, **kwargs)

    with psycopg.connect(warehouse_url, autocommit=True, cursor_factory=RecordingCursor) as conn:
        results = evaluate(
            conn,
            tables,
            rule(tables, "NOT_NULL", "sale_id"),
            rule(tables, "IS_IN_SET", "quantity", "[0, 1, 2, 3, 4]"),
            rule(tables, "RANGE", "amount", '{"min": -5, "max": 12.5}'),
            rule(tables, "REGEX", "email", "^[a-z]"),
            rule(tables, "ROW_COUNT_MIN", "", "6"),
            rule(tables, "CUSTOM_SQL", "", "amount IS NULL OR amount > -10"),
            rule(tables, "UNIQUE", "email"),
        )

        staging = ident(tables["stg"]).as_string(conn)

    assert all(r.passed for r in results)
    [statement] = [s for s in statements if f"FROM {staging}" in s]  # nothing fails: no sample is read
    assert statement.count("FILTER (WHERE") == 4
    assert statement.count("regexp_replace(") == 1  # the REGEX over the e-mails joined into lines, in the same scan
    assert statement.count(" UNION ALL ") == 1  # the row-level rules in one scan, then the UNIQUE
    assert statement.count("GROUP BY") == 2  # the e-mails' hashes, then the values of repeated hashes
    assert "ctid" not in statement  # a small table is read whole


def test_a_large_run_counts_row_level_rules_over_block_ranges_that_cover_every_row(warehouse_url, warehouse_schema):
    """Past the size PostgreSQL reads in parallel, the row-level scan is cut into block ranges; counts add up."""
    table = f"{warehouse_schema}.big"
    statements: list[str] = []

    class RecordingCursor(psycopg.Cursor):
        def execute(self, query, params=None, **kwargs):
            statements.append(query.as_string(self.connection) if isinstance(query, sql.Composable) else str(query))
            return super().execute(query, params, **kwargs)

    with psycopg.connect(warehouse_url, autocommit=True, cursor_factory=RecordingCursor) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id integer, code text, dagster_run_id text)").format(ident(table)))
        # every 7th code missing, codes repeat past 15000, every 10th id repeated once; rows of another run between
        conn.execute(
            sql.SQL(
                "INSERT INTO {} SELECT CASE WHEN n % 10 = 0 THEN n - 1 ELSE n END, "
                "CASE WHEN n % 7 <> 0 THEN 'C' || n % 15000 END, CASE WHEN n % 13 = 0 THEN 'run-0' ELSE 'run-1' END "
                "FROM generate_series(1, 20000) AS n"
            ).format(ident(table))
        )
        conn.execute("SET min_parallel_table_scan_size = '64kB'")  # the table (about 1MB) counts as large
        rules = [
            QualityRule("code_present", table, "code", "NOT_NULL"),
            QualityRule("id_unique", table, "id", "UNIQUE"),
            QualityRule("enough", table, "", "ROW_COUNT_MIN", "1"),
            QualityRule("code_unique", table, "code", "UNIQUE"),  # text: its hashes, then the rows of repeated ones
        ]
        results = evaluate_rules(conn, table=table, run_id="run-1", rules=rules)

    run_1 = [n for n in range(1, 20001) if n % 13]
    ids = [n - 1 if n % 10 == 0 else n for n in run_1]
    repeated = {i for i in ids if ids.count(i) > 1}
    codes = [n % 15000 for n in run_1 if n % 7]
    repeated_codes = {c for c in codes if codes.count(c) > 1}
    assert [r.rows_checked for r in results] == [len(run_1)] * 4
    assert [r.rows_failing for r in results] == [
        sum(1 for n in run_1 if n % 7 == 0),
        sum(1 for i in ids if i in repeated),
        0,
        sum(1 for c in codes if c in repeated_codes),
    ]
    [statement] = [s for s in statements if "UNION ALL" in s]
    # 4 ranges, the last one open; every scan of a UNIQUE reads the range of all blocks, through the shared buffers
    assert statement.count('"ctid" >=') == 7 and statement.count('"ctid" <') == 3
    assert statement.count("'(0,0)'::tid") == 4


def test_a_missing_column_is_a_quality_error_naming_the_rule_and_the_column(warehouse, tables):
    with pytest.raises(QualityError) as err:
        evaluate(warehouse, tables, rule(tables, "NOT_NULL", "Amount", name="amount_present"))
    assert err.value.message == f"amount_present: the column Amount is not in {tables['stg']} (did you mean amount?)."

    with pytest.raises(QualityError) as err:
        evaluate(warehouse, tables, rule(tables, "CUSTOM_SQL", "", "discount >= 0", name="discount_ok"))
    assert err.value.message == f"discount_ok: the column discount is not in {tables['stg']}."


def test_a_missing_table_is_a_quality_error(warehouse, warehouse_schema):
    missing = f"{warehouse_schema}.nowhere"
    with pytest.raises(QualityError, match="does not exist"):
        evaluate_rules(
            warehouse,
            table=missing,
            run_id="run-1",
            rules=[QualityRule("r", missing, "a", "NOT_NULL")],
        )


@pytest.mark.parametrize(
    "check_type, column, expression, message",
    [
        ("RANGE", "region", '{"min": 0}', "the bounds are numbers but region is text"),
        ("RANGE", "amount", '{"min": "2024-01-01"}', "the bounds are dates but amount is numeric(12,2)"),
        ("IS_IN_SET", "quantity", '["one", "two"]', "the check cannot run on"),
        ("CUSTOM_SQL", "", "region > 5", "the check cannot run on"),
    ],
)
def test_a_rule_postgresql_cannot_run_is_named(warehouse, tables, check_type, column, expression, message):
    with pytest.raises(QualityError) as err:
        evaluate(
            warehouse,
            tables,
            rule(tables, "NOT_NULL", "sale_id"),
            rule(tables, check_type, column, expression, name="bad"),
        )
    assert err.value.message.startswith("bad: ")
    assert message in err.value.message


# ------------------------------------------------------------------ injection attempts at run time


@pytest.mark.parametrize(
    "check_type, column, expression",
    [
        ("CUSTOM_SQL", "", f"amount > 0; DROP TABLE {INJECTION}"),
        ("CUSTOM_SQL", "", "amount > (SELECT max(id) FROM x)"),
        ("CUSTOM_SQL", "", "pg_sleep(5) IS NULL"),
        ("CUSTOM_SQL", "", "amount > 0 -- or drop"),
        ("CUSTOM_SQL", "", '"amount"" > 0 OR ""x" > 0'),
        ("IS_IN_SET", "region", INJECTION),
        ("ROW_COUNT_MIN", "", "1; DROP TABLE x"),
        ("NOT_NULL", 'region" IS NULL; DROP TABLE x; --', ""),
    ],
)
def test_rules_edited_by_hand_are_parsed_again_and_refused(warehouse, tables, check_type, column, expression):
    with pytest.raises(QualityError):
        evaluate(warehouse, tables, rule(tables, check_type, column, expression, name="hand_edited"))
    assert table_rows(warehouse, tables["x"]) == []


def test_injection_text_in_values_is_only_data(warehouse, tables):
    before = table_rows(warehouse, tables["stg"])
    results = evaluate(
        warehouse,
        tables,
        rule(tables, "IS_IN_SET", "region", f'["North", "{INJECTION}"]', name="in_set"),
        rule(tables, "REGEX", "email", INJECTION, name="pattern"),
        rule(tables, "CUSTOM_SQL", "", f"region <> '{INJECTION.replace(chr(39), chr(39) * 2)}'", name="custom"),
        rule(tables, "CUSTOM_SQL", "", "region NOT LIKE '%''; DROP%' AND email NOT LIKE 'x\\%'", name="percent"),
    )

    assert [r.rows_failing for r in results] == [3, 5, 0, 0]
    assert table_rows(warehouse, tables["stg"]) == before
    assert table_rows(warehouse, tables["x"]) == []


def test_evaluation_inside_the_callers_transaction_leaves_it_usable(warehouse_url, tables):
    with psycopg.connect(warehouse_url) as conn:
        [result] = evaluate(conn, tables, rule(tables, "UNIQUE", "region"))
        assert result.rows_failing == 2
        with pytest.raises(QualityError):
            evaluate(conn, tables, rule(tables, "IS_IN_SET", "quantity", '["one"]'))
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        assert conn.execute("SELECT 2").fetchone() == (2,)
        conn.rollback()
