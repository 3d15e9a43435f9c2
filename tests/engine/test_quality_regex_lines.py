"""REGEX rules counted over the run's values joined into lines: the same counts as row by row, whatever the pattern."""

from __future__ import annotations

import random
import re
import secrets

import psycopg
import pytest
from psycopg import sql

from dagster_code.engine import quality
from dagster_code.engine.errors import QualityError
from dagster_code.engine.quality import QualityRule, evaluate_rules
from dagster_code.engine.regex_lines import good_lines_pattern

# Python's re warns of "[[:" as a possible nested set; PostgreSQL reads it as a character class
pytestmark = pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")

ACCEPTED = [
    r"^[A-Z]{3}-\d+$",
    r"^[a-z0-9._]+@[a-z0-9.-]+\.[a-z]{2,}$",
    "(?:ab|cd)+",
    "(a|b)c",
    "[[:alpha:]]+",
    r"\.",
    "[^@]+@",
    "a.b",
    "x*",
    "^$",
    r"\S",
    "é|東",
    "[]a]",
    r"[\d\w-]",
    r"^\w+?\d{2,3}$",
]
REJECTED = [
    r"a\sb",  # \s matches a newline
    r"\n",
    r"[\s]",
    "[[:space:]]",
    "[[:cntrl:]]",
    r"\D",
    r"\W",
    r"\x0a",
    r"\u000a",
    r"[\x01-z]",
    "[[.newline.]]",
    "[[=a=]]",
    "a\tb",  # a control character typed into the pattern
    "a\nb",
    "(?i)abc",  # embedded options
    "(?=a)b",
    "(?!a)",
    "(?<=a)b",
    r"(a)\1",
    "***=a",
    r"a\Z",
    r"\Ab",
    r"\mfoo",
    r"\y",
    "[a",
    "a\\",
    "",
]


@pytest.mark.parametrize("pattern", ACCEPTED)
def test_a_pattern_of_the_subset_becomes_runs_of_good_lines(pattern):
    assert good_lines_pattern(pattern) == "(?n)^(?:[^\\n]*(?:" + pattern + ")[^\\n]*\\n)+"


@pytest.mark.parametrize("pattern", REJECTED)
def test_a_pattern_that_could_match_a_newline_or_look_across_lines_stays_row_by_row(pattern):
    assert good_lines_pattern(pattern) is None


# ------------------------------------------------------------------ against PostgreSQL


def _random_pattern(rng: random.Random) -> str:
    atoms = ["a", "b", "@", r"\.", ".", "[ab]", "[^a]", "[a-c]", r"\d", r"\w", "é", "-", " ", "[[:alpha:]]"]
    quantifiers = ["", "", "*", "+", "?", "{1,2}", "*?", "+?"]

    def sequence(depth: int) -> str:
        parts = []
        for _ in range(rng.randint(1, 3)):
            if depth < 2 and rng.random() < 0.2:
                inner = "|".join(sequence(depth + 1) for _ in range(rng.randint(1, 2)))
                parts.append(rng.choice(["(", "(?:"]) + inner + ")" + rng.choice(quantifiers))
            else:
                parts.append(rng.choice(atoms) + rng.choice(quantifiers))
        return "".join(parts)

    return rng.choice(["", "^"]) + sequence(0) + rng.choice(["", "$"])


def _random_value(rng: random.Random, alphabet: str) -> str | None:
    if rng.random() < 0.05:
        return None
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7)))


SPECIAL = [None, "", " ", "abc", "ABC-123", "a@b.cc", "user.name@mail.example.org", "é", "東京", "ab ", "a.b", "xxxxx"]


def _load(conn: psycopg.Connection, table: str, values: list[str | None], other_run: list[str | None]) -> None:
    conn.execute(
        sql.SQL("CREATE TABLE {} (id serial, v text, w varchar(40), dagster_run_id text)").format(
            sql.Identifier(*table.split("."))
        )
    )
    with conn.cursor() as cursor:
        cursor.executemany(
            sql.SQL("INSERT INTO {} (v, w, dagster_run_id) VALUES (%s, %s, %s)").format(
                sql.Identifier(*table.split("."))
            ),
            [(v, v if v is None or len(v) <= 40 else v[:40], "run-1") for v in values]
            + [(v, None, "run-0") for v in other_run],
        )


def _row_by_row(conn: psycopg.Connection, table: str, column: str, pattern: str) -> int:
    query = sql.SQL("SELECT count(*) FILTER (WHERE NOT ({}::text ~ %s)) FROM {} WHERE dagster_run_id = 'run-1'")
    return conn.execute(query.format(sql.Identifier(column), sql.Identifier(*table.split("."))), (pattern,)).fetchone()[
        0
    ]


def _valid_patterns(conn: psycopg.Connection, patterns: list[str]) -> list[str]:
    valid = []
    for pattern in dict.fromkeys(patterns):
        try:
            re.compile(pattern)
            conn.execute("SELECT '' ~ %s", (pattern,))
        except (re.error, psycopg.errors.InvalidRegularExpression):
            continue
        valid.append(pattern)
    return valid


class Recorder(psycopg.Cursor):
    statements: list[str] = []

    def execute(self, query, params=None, **kwargs):
        text = query.as_string(self.connection) if isinstance(query, sql.Composable) else str(query)
        Recorder.statements.append(text)
        return super().execute(query, params, **kwargs)


def _recounts() -> list[str]:
    """The statements counting a REGEX rule row by row after its lines did not add up."""
    return [s for s in Recorder.statements if s.startswith("SELECT count(*) FILTER") and "%(run_id)s" in s]


@pytest.fixture
def recording(warehouse_url):
    Recorder.statements = []
    with psycopg.connect(warehouse_url, autocommit=True, cursor_factory=Recorder) as conn:
        yield conn


def _check(conn, table: str, patterns: list[str], column: str = "v") -> list[int]:
    rules = [QualityRule(f"r{i}", table, column, "REGEX", p, "WARN") for i, p in enumerate(patterns)]
    results = evaluate_rules(conn, table=table, run_id="run-1", rules=rules)
    assert [r.rows_failing for r in results] == [_row_by_row(conn, table, column, p) for p in patterns]
    return [r.rows_failing for r in results]


def test_random_patterns_over_random_values_count_as_row_by_row(recording, warehouse_schema):
    rng = random.Random(20240601)
    table = f"{warehouse_schema}.lines"
    values = SPECIAL + [_random_value(rng, "ab@.-1é ") for _ in range(600)]
    _load(recording, table, values, other_run=["!!", "", None])
    patterns = _valid_patterns(recording, ACCEPTED + [_random_pattern(rng) for _ in range(120)])
    assert len(patterns) > 100
    assert all(good_lines_pattern(p) for p in patterns)
    Recorder.statements.clear()

    failing = _check(recording, table, patterns)

    assert len(set(failing)) > 20  # the patterns pass and fail different rows
    [statement] = [s for s in Recorder.statements if "UNION ALL" in s or "regexp_replace" in s]
    assert statement.count("regexp_replace(") == len(patterns)  # every rule over its lines, in one scan
    assert _recounts() == []  # nothing counted row by row


def test_a_varchar_column_counts_over_its_lines_too(recording, warehouse_schema):
    table = f"{warehouse_schema}.lines"
    _load(recording, table, SPECIAL * 3, other_run=[])
    Recorder.statements.clear()
    _check(recording, table, [r"^[a-z]+$", "[[:alpha:]]", r"\."], column="w")
    assert any("regexp_replace(" in s for s in Recorder.statements)


def test_values_holding_a_newline_or_stored_compressed_are_counted_row_by_row(recording, warehouse_schema):
    """A value with a newline would be two lines, one not stored as is would be read from elsewhere: such a rule
    is counted again row by row, so the counts never depend on how the values look or are stored."""
    table = f"{warehouse_schema}.lines"
    values = [*SPECIAL, "a\nb", "abc\n", "\n", "a@b.cc\nx@y.zz", "a" * 5000, secrets.token_hex(4000)]
    _load(recording, table, values, other_run=["a\nb"])
    patterns = [r"^[a-z]+$", "a.b", "^$", r"^a+$", r"^[0-9a-f]+$", "x*"]
    Recorder.statements.clear()

    failing = _check(recording, table, patterns)

    assert failing[0] > 0
    assert len(_recounts()) == len(patterns)


def test_one_value_with_a_newline_among_clean_ones(recording, warehouse_schema):
    """One newline value among ones that pass: the lines would pass too ("a@b.cc" and "x@y.zz" each match)."""
    table = f"{warehouse_schema}.lines"
    _load(recording, table, ["a@b.cc", "a@b.cc\nx@y.zz", "c@d.ee"], other_run=[])
    assert _check(recording, table, [r"^[a-z]+@[a-z]+\.[a-z]+$"]) == [1]


def test_a_large_run_joins_its_lines_per_range_of_blocks(recording, warehouse_schema, monkeypatch):
    table = f"{warehouse_schema}.lines"
    rng = random.Random(7)
    _load(recording, table, [_random_value(rng, "ab@.1") for _ in range(5000)], other_run=["ab"] * 500)
    recording.execute("SET min_parallel_table_scan_size = '64kB'")
    (blocks,) = recording.execute("SELECT pg_relation_size(%s) / 8192", (table,)).fetchone()
    monkeypatch.setattr(quality, "_LINE_BLOCKS", 4)
    Recorder.statements.clear()

    _check(recording, table, ["^a", r"\d$"])

    [statement] = [s for s in Recorder.statements if "UNION ALL" in s]
    assert statement.count("regexp_replace(") == 2 * -(-blocks // 4)  # ranges of at most 4 blocks

    monkeypatch.setattr(quality, "_MAX_LINE_RANGES", 2)  # too large to join: row by row, same counts
    Recorder.statements.clear()
    _check(recording, table, ["^a", r"\d$"])
    assert not any("regexp_replace(" in s for s in Recorder.statements)


def test_a_good_lines_pattern_postgresql_refuses_falls_back_to_row_by_row(recording, warehouse_schema, monkeypatch):
    table = f"{warehouse_schema}.lines"
    _load(recording, table, SPECIAL, other_run=[])
    monkeypatch.setattr(quality, "good_lines_pattern", lambda pattern: "(")  # as if too complex to compile
    assert _check(recording, table, [r"^[a-z]+$", "b"]) == [
        _row_by_row(recording, table, "v", r"^[a-z]+$"),
        _row_by_row(recording, table, "v", "b"),
    ]


def test_a_pattern_postgresql_cannot_compile_is_named(recording, warehouse_schema):
    table = f"{warehouse_schema}.lines"
    _load(recording, table, SPECIAL, other_run=[])
    rules = [
        QualityRule("fine", table, "v", "REGEX", "^a"),
        QualityRule("python_only", table, "v", "REGEX", "(?i:abc)"),  # Python's scoped flags; not PostgreSQL's
    ]
    with pytest.raises(QualityError) as err:
        evaluate_rules(recording, table=table, run_id="run-1", rules=rules)
    assert err.value.message.startswith("python_only: the check cannot run on")
