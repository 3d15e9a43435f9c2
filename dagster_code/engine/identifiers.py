"""SQL identifiers from config values, quoted part by part and never formatted into SQL text."""

from __future__ import annotations

import re

from psycopg import sql

from dagster_code.engine.errors import ConfigError

_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def identifier_parts(name: str) -> tuple[str, ...]:
    parts = tuple(name.split(".")) if isinstance(name, str) else ()
    if not 1 <= len(parts) <= 2 or not all(_PART.match(p) and len(p.encode()) <= 63 for p in parts):
        raise ConfigError(f"'{name}' is not a valid table or column name.")
    return parts


def table_identifier(name: str) -> sql.Identifier:
    """``staging.sales`` -> ``sql.Identifier("staging", "sales")``."""
    return sql.Identifier(*identifier_parts(name))


def column_identifier(name: str) -> sql.Identifier:
    if not _PART.match(name or "") or len(name.encode()) > 63:
        raise ConfigError(f"'{name}' is not a valid column name.")
    return sql.Identifier(name)
