"""Questions in plain language to one validated, read-only PostgreSQL query, via an OpenAI-compatible model.

The model only proposes SQL: what it answers passes :func:`analytics_hub.ml.sql_safety.validate_sql` before it
is returned, and running it still goes through the database gate.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import openai
import psycopg

from analytics_hub.ml.errors import AnalyticsError
from analytics_hub.ml.secrets import resolve_secret
from analytics_hub.ml.sql_safety import validate_sql

API_KEY_SECRET = "OPENAI_API_KEY"
DEFAULT_MODEL = "gpt-4o-mini"
REQUEST_TIMEOUT_S = 30.0
MAX_RETRIES = 1

SYSTEM_PROMPT = """You translate questions into SQL for a PostgreSQL database.
Rules:
- Answer with exactly one read-only SELECT statement (WITH ... SELECT is fine) and nothing else: no explanation.
- Write every table with its schema, e.g. schema.table, and use only the tables and columns listed below.
- Never change data or structure, never call administrative functions.

Tables:
{schema}"""

_FENCE = re.compile(r"```[ \t]*(?:[A-Za-z0-9_+-]+)?[ \t]*\n?(.*?)```", re.DOTALL)
# Lines that start a statement; non-SELECT ones are kept so the parser gate can say why they are refused.
_SQL_START = re.compile(
    r"^[ \t]*(?:WITH|SELECT|TABLE|VALUES|INSERT|UPDATE|DELETE|MERGE|TRUNCATE|CREATE|ALTER|DROP|GRANT|REVOKE|COPY"
    r"|CALL|DO|SET|RESET|VACUUM|ANALYZE|EXPLAIN|LOCK|LISTEN|NOTIFY|BEGIN|COMMIT|PREPARE|EXECUTE)\b",
    re.IGNORECASE | re.MULTILINE,
)

_COLUMNS = """
    SELECT c.table_schema, c.table_name, c.column_name, c.data_type
    FROM information_schema.columns AS c
    JOIN information_schema.tables AS t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
    WHERE c.table_schema = ANY(%s) AND t.table_type IN ('BASE TABLE', 'VIEW', 'FOREIGN')
    ORDER BY c.table_schema, c.table_name, c.ordinal_position
"""


class NotConfigured(AnalyticsError):
    """No language model is configured (no API key)."""


class ModelUnavailable(AnalyticsError):
    """The language model service could not be reached or answered with an error."""


class UnusableAnswer(AnalyticsError):
    """The model answered, but not with a SQL query; ``reply`` keeps what it said."""

    def __init__(self, message: str, *, detail: str = "", reply: str = "") -> None:
        super().__init__(message, detail=detail)
        self.reply = reply


@dataclass(frozen=True)
class ColumnDescription:
    name: str
    data_type: str


@dataclass(frozen=True)
class TableDescription:
    schema: str
    name: str
    columns: tuple[ColumnDescription, ...]

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class SchemaDescription:
    """The tables a question may be answered from; also the allow-list the generated SQL is checked against."""

    tables: tuple[TableDescription, ...]

    @property
    def schemas(self) -> frozenset[str]:
        return frozenset(table.schema for table in self.tables)

    @property
    def table_names(self) -> frozenset[str]:
        return frozenset(table.qualified_name for table in self.tables)

    def to_prompt(self) -> str:
        """One line per table: ``schema.table(column type, ...)``, names quoted where PostgreSQL needs it."""
        lines = []
        for table in self.tables:
            columns = ", ".join(f"{_quote(column.name)} {column.data_type}" for column in table.columns)
            lines.append(f"{_quote(table.schema)}.{_quote(table.name)}({columns})")
        return "\n".join(lines)


def describe_schema(
    conn: psycopg.Connection, *, schemas: Collection[str], tables: Collection[str] | None = None
) -> SchemaDescription:
    """Tables and views of ``schemas`` that the connection's role can see (optionally only ``schema.table`` names)."""
    wanted = None if tables is None else set(tables)
    grouped: dict[tuple[str, str], list[ColumnDescription]] = {}
    for schema, table, column, data_type in conn.execute(_COLUMNS, [sorted(set(schemas))]):
        if wanted is None or f"{schema}.{table}" in wanted:
            grouped.setdefault((schema, table), []).append(ColumnDescription(column, data_type))
    return SchemaDescription(
        tables=tuple(TableDescription(schema, name, tuple(columns)) for (schema, name), columns in grouped.items())
    )


def model_from_env() -> str:
    """``OPENAI_MODEL``, or :data:`DEFAULT_MODEL`."""
    return os.environ.get("OPENAI_MODEL") or DEFAULT_MODEL


def client_from_env() -> openai.OpenAI:
    """An OpenAI-compatible client from ``OPENAI_API_KEY`` (environment or keyring) and ``OPENAI_BASE_URL``."""
    api_key = resolve_secret(API_KEY_SECRET)
    if not api_key:
        raise NotConfigured(
            "Questions in plain language need a language model, and none is configured. Set OPENAI_API_KEY "
            "(in the environment or the system keyring under the service 'launchpad'); optionally set "
            "OPENAI_BASE_URL for an OpenAI-compatible server and OPENAI_MODEL to choose the model "
            f"(default {DEFAULT_MODEL})."
        )
    return openai.OpenAI(
        api_key=api_key,
        base_url=os.environ.get("OPENAI_BASE_URL") or None,
        timeout=REQUEST_TIMEOUT_S,
        max_retries=MAX_RETRIES,
    )


def generate_sql(
    question: str,
    *,
    schema: SchemaDescription | str,
    client: Any,
    allowed_schemas: Collection[str] | None = None,
    allowed_tables: Collection[str] | None = None,
    model: str | None = None,
) -> str:
    """Ask the model for one query answering ``question`` and return it normalised, only if it passes the parser gate.

    With a :class:`SchemaDescription` the query may use exactly its tables; with a prompt text, pass
    ``allowed_schemas`` (and optionally ``allowed_tables``). Raises ``UnsafeSQL`` (with ``.sql``) for a refused
    query, :class:`UnusableAnswer`, :class:`ModelUnavailable` or :class:`NotConfigured`.
    """
    if not question or not question.strip():
        raise UnusableAnswer("Type a question first.")
    if isinstance(schema, SchemaDescription):
        prompt_schema = schema.to_prompt()
        allowed_schemas = schema.schemas if allowed_schemas is None else allowed_schemas
        allowed_tables = schema.table_names if allowed_tables is None else allowed_tables
    elif allowed_schemas is None:
        raise ValueError("allowed_schemas is required when the schema is given as prompt text")
    else:
        prompt_schema = schema
    reply = _ask(client, model or model_from_env(), question.strip(), prompt_schema)
    sql = extract_sql(reply)
    if not sql:
        raise UnusableAnswer("The model did not answer with a SQL query. Try rephrasing the question.", reply=reply)
    return validate_sql(sql, allowed_schemas=allowed_schemas, allowed_tables=allowed_tables)


def extract_sql(reply: str) -> str:
    """The SQL inside a model's reply: the first ``` fenced block, else from the first line starting a statement."""
    fenced = _FENCE.search(reply)
    if fenced:
        text = fenced.group(1)
    else:
        start = _SQL_START.search(reply)
        if not start:
            return ""
        text = reply[start.start() :]
    return text.strip().rstrip(";").strip()


def _ask(client: Any, model: str, question: str, prompt_schema: str) -> str:
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT.format(schema=prompt_schema)},
        {"role": "user", "content": question},
    ]
    api_key = getattr(client, "api_key", None)
    try:
        response = client.chat.completions.create(model=model, messages=messages, temperature=0)
    except openai.APIStatusError as exc:
        hint = " Check OPENAI_API_KEY." if exc.status_code in (401, 403) else ""
        raise ModelUnavailable(
            f"The language model service answered with an error (HTTP {exc.status_code}).{hint}",
            detail=_scrub(f"{type(exc).__name__}: {exc.message}", api_key),
        ) from exc
    except openai.APITimeoutError as exc:
        raise ModelUnavailable(
            "The language model service took too long to answer. Try again in a moment.",
            detail=_scrub(f"{type(exc).__name__}: {exc}", api_key),
        ) from exc
    except openai.APIError as exc:
        raise ModelUnavailable(
            "The language model service could not be reached. Check OPENAI_BASE_URL and the network.",
            detail=_scrub(f"{type(exc).__name__}: {exc}", api_key),
        ) from exc
    choices = getattr(response, "choices", None) or []
    content = choices[0].message.content if choices else None
    if not content:
        raise UnusableAnswer("The model sent an empty answer. Try again or rephrase the question.")
    return content


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "[hidden]") if secret else text


def _quote(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else '"' + name.replace('"', '""') + '"'
