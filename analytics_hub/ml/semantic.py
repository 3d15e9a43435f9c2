"""Semantic search over a warehouse table: row embeddings built in batches, cached in the warehouse, ranked by cosine.

The cache ``analytics_search.row_embeddings`` holds one vector per (table, model, row key). A row is re-embedded
only when the hash of its text changed; rows gone from the table leave the cache on the next build. Rows are
found again by their primary key (kept as jsonb text), so only tables with a primary key can be searched.
Search reflects the table as of the last :func:`build_index`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pandas as pd
import psycopg
from psycopg import sql

from analytics_hub.ml.embeddings import BackendInfo, EmbeddingBackend, embedding_backend, get_backend
from analytics_hub.ml.errors import AnalyticsError
from analytics_hub.ml.table_catalog import INTERNAL_SCHEMAS, TableInfo, TableNotFound, describe_table, free_name

__all__ = [
    "BackendInfo",
    "IndexStats",
    "NotSearchable",
    "SearchIndexMissing",
    "build_index",
    "embedding_backend",
    "search",
]

CACHE_SCHEMA = "analytics_search"
CACHE_TABLE = "row_embeddings"
_CACHE = sql.Identifier(CACHE_SCHEMA, CACHE_TABLE)
_CREATE_LOCK = 0x4C50_5345_4152_4348  # "LPSEARCH": first creation of the cache between concurrent builders
_CREATE = [
    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(CACHE_SCHEMA)),
    sql.SQL(
        """
        CREATE TABLE IF NOT EXISTS {} (
            table_name text NOT NULL,
            model text NOT NULL,
            row_key text NOT NULL,
            text_hash text NOT NULL,
            embedding bytea NOT NULL,
            embedded_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (table_name, model, row_key)
        )
        """
    ).format(_CACHE),
]
_UPSERT = sql.SQL(
    "INSERT INTO {} (table_name, model, row_key, text_hash, embedding) VALUES (%s, %s, %s, %s, %s) "
    "ON CONFLICT (table_name, model, row_key) DO UPDATE "
    "SET text_hash = EXCLUDED.text_hash, embedding = EXCLUDED.embedding, embedded_at = now()"
).format(_CACHE)
_READ_BATCH = 2000  # cached vectors per fetch when ranking


class NotSearchable(AnalyticsError):
    """The table cannot be searched (missing, no primary key, no text to search)."""


class SearchIndexMissing(AnalyticsError):
    """Search was asked of a table whose rows have not been embedded with the current backend."""


@dataclass(frozen=True)
class IndexStats:
    table: str
    model: str
    embedded: int  # rows new or changed since the last build, embedded now
    reused: int  # rows whose cached vector still matches their text
    removed: int  # cached vectors of rows no longer in the table


def _searchable(conn: psycopg.Connection, table: str) -> TableInfo:
    try:
        info = describe_table(conn, table)
    except TableNotFound as exc:
        raise NotSearchable(exc.message, detail=exc.detail) from exc
    if info.schema in INTERNAL_SCHEMAS:
        raise NotSearchable(f"Table {table} belongs to the hub's own records and cannot be searched.")
    if not info.primary_key:
        raise NotSearchable(
            f"Table {table} has no primary key, so search could not find its rows again. "
            "Add a primary key to the table to make it searchable."
        )
    return info


def _text_columns(info: TableInfo, wanted: list[str] | None) -> list[str]:
    names = [c.name for c in info.columns]
    if wanted is None:
        chosen = [c.name for c in info.columns if c.kind == "text"]
        if not chosen:
            raise NotSearchable(f"Table {info.qualified} has no text columns to search; choose the columns to use.")
        return chosen
    unknown = [c for c in wanted if c not in names]
    if unknown:
        raise NotSearchable(f"Table {info.qualified} has no column {', '.join(unknown)}.")
    if not wanted:
        raise NotSearchable(f"Choose at least one column of {info.qualified} to search.")
    return list(wanted)


def ensure_cache_table(conn: psycopg.Connection) -> None:
    """Create ``analytics_search.row_embeddings`` when missing; safe between concurrent sessions."""
    if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{CACHE_SCHEMA}.{CACHE_TABLE}",)).fetchone()[0]:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CREATE_LOCK,))
        for statement in _CREATE:
            conn.execute(statement)


def _row_key(info: TableInfo, alias: str) -> sql.Composed:
    """SQL for a row's key as jsonb text, e.g. ``{"id": 42}``; the key column names are parameters."""
    pairs = sql.SQL(", ").join(sql.SQL("%s::text, {}").format(sql.Identifier(alias, k)) for k in info.primary_key)
    return sql.SQL("jsonb_build_object({})::text").format(pairs)


def row_text(columns: list[str], values: tuple) -> str:
    """What is embedded for a row: "column: value" for each non-empty chosen column, one per line."""
    pieces = []
    for column, value in zip(columns, values, strict=True):
        text = "" if value is None else str(value).strip()
        if text:
            pieces.append(f"{column}: {text}")
    return "\n".join(pieces)


def _stream_rows(conn: psycopg.Connection, info: TableInfo, columns: list[str], batch_size: int) -> Iterator[list]:
    alias = free_name("searched_row", {c.name for c in info.columns})
    query = sql.SQL("SELECT {}, {} FROM {} AS {}").format(
        _row_key(info, alias),
        sql.SQL(", ").join(sql.Identifier(alias, c) for c in columns),
        info.identifier,
        sql.Identifier(alias),
    )
    # WITH HOLD: the rows stay readable while each batch's cache writes commit (autocommit connections too).
    with conn.cursor(name="launchpad_search_rows", withhold=True) as cursor:
        cursor.execute(query, list(info.primary_key))
        while batch := cursor.fetchmany(batch_size):
            yield batch


def _store_batch(
    conn: psycopg.Connection, info: TableInfo, backend: EmbeddingBackend, columns: list[str], batch: list
) -> tuple[int, int]:
    """Embed the rows of one batch whose text changed; returns (embedded, reused)."""
    texts = {row[0]: row_text(columns, row[1:]) for row in batch}
    hashes = {key: hashlib.sha256(text.encode()).hexdigest() for key, text in texts.items()}
    cached = dict(
        conn.execute(
            sql.SQL(
                "SELECT row_key, text_hash FROM {} WHERE table_name = %s AND model = %s AND row_key = ANY(%s)"
            ).format(_CACHE),
            (info.qualified, backend.info.model, list(texts)),
        ).fetchall()
    )
    stale = [key for key in texts if cached.get(key) != hashes[key]]
    if stale:
        vectors = backend.embed([texts[key] for key in stale])
        with conn.transaction(), conn.cursor() as cursor:
            cursor.executemany(
                _UPSERT,
                [
                    (info.qualified, backend.info.model, key, hashes[key], v)
                    for key, v in zip(stale, vectors, strict=True)
                ],
            )
    return len(stale), len(texts) - len(stale)


def _remove_vanished(conn: psycopg.Connection, info: TableInfo, model: str) -> int:
    alias = free_name("searched_row", {c.name for c in info.columns})
    query = sql.SQL(
        "DELETE FROM {cache} AS c WHERE c.table_name = %s AND c.model = %s "
        "AND NOT EXISTS (SELECT 1 FROM {table} AS {alias} WHERE {key} = c.row_key)"
    ).format(cache=_CACHE, table=info.identifier, alias=sql.Identifier(alias), key=_row_key(info, alias))
    with conn.transaction():
        return conn.execute(query, [info.qualified, model, *info.primary_key]).rowcount


def build_index(
    conn: psycopg.Connection,
    table: str,
    *,
    text_columns: list[str] | None = None,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
    backend: str | None = None,
) -> IndexStats:
    """Embed the rows of ``table`` that are new or changed since the last build and drop vectors of vanished rows.

    ``text_columns`` default to every text column. Rows are streamed in batches of ``batch_size`` (bounded
    memory) and each batch is committed on its own, so an interrupted build keeps what it did.
    ``progress(done, total)`` is called after each batch.
    """
    info = _searchable(conn, table)
    columns = _text_columns(info, text_columns)
    chosen = get_backend(backend)
    ensure_cache_table(conn)
    total = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(info.identifier)).fetchone()[0]
    embedded = reused = done = 0
    for batch in _stream_rows(conn, info, columns, max(1, int(batch_size))):
        new, kept = _store_batch(conn, info, chosen, columns, batch)
        embedded, reused, done = embedded + new, reused + kept, done + len(batch)
        if progress:
            progress(done, total)
    removed = _remove_vanished(conn, info, chosen.info.model)
    return IndexStats(table=info.qualified, model=chosen.info.model, embedded=embedded, reused=reused, removed=removed)


def _cached_vectors(conn: psycopg.Connection, table: str, model: str) -> Callable[[], Iterator[list]]:
    query = sql.SQL("SELECT row_key, embedding FROM {} WHERE table_name = %s AND model = %s").format(_CACHE)

    def batches() -> Iterator[list[tuple[str, bytes]]]:
        with conn.cursor(name="launchpad_search_vectors", withhold=True) as cursor:
            cursor.execute(query, (table, model))
            while batch := cursor.fetchmany(_READ_BATCH):
                yield [(key, bytes(blob)) for key, blob in batch]

    return batches


def _has_index(conn: psycopg.Connection, table: str, model: str) -> bool:
    if conn.execute("SELECT to_regclass(%s) IS NULL", (f"{CACHE_SCHEMA}.{CACHE_TABLE}",)).fetchone()[0]:
        return False
    query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE table_name = %s AND model = %s)").format(_CACHE)
    return conn.execute(query, (table, model)).fetchone()[0]


def _fetch_rows(conn: psycopg.Connection, info: TableInfo, keys: list[str]) -> tuple[list[str], dict[str, tuple]]:
    alias = free_name("searched_row", {c.name for c in info.columns})
    query = sql.SQL(
        "SELECT {key}, {alias}.* FROM {table} AS {alias} "
        "JOIN jsonb_populate_recordset(NULL::{table}, %s::jsonb) AS wanted ON {match}"
    ).format(
        key=_row_key(info, alias),
        alias=sql.Identifier(alias),
        table=info.identifier,
        match=sql.SQL(" AND ").join(
            sql.SQL("{} = {}").format(sql.Identifier(alias, k), sql.Identifier("wanted", k)) for k in info.primary_key
        ),
    )
    document = json.dumps([json.loads(k) for k in keys])
    with conn.cursor() as cursor:
        cursor.execute(query, [*info.primary_key, document])
        names = [d.name for d in cursor.description[1:]]
        return names, {row[0]: row[1:] for row in cursor.fetchall()}


def search(
    conn: psycopg.Connection, table: str, query: str, *, k: int = 10, backend: str | None = None
) -> pd.DataFrame:
    """The ``k`` rows of ``table`` most similar to ``query``, best first, with their columns and a ``score``.

    ``score`` is the cosine similarity (named ``score_2`` if the table has its own ``score``). Rows that no longer
    exist are skipped; rows changed since the last :func:`build_index` are ranked by their old text.
    """
    info = _searchable(conn, table)
    chosen = get_backend(backend)
    if not query.strip():
        raise AnalyticsError("Type what you are looking for.")
    if not _has_index(conn, info.qualified, chosen.info.model):
        raise SearchIndexMissing(
            f"Table {info.qualified} has no search index for {chosen.info.name} yet; build the index first."
        )
    ranked = chosen.rank(query, _cached_vectors(conn, info.qualified, chosen.info.model), keep=2 * k + 10)
    names, rows = _fetch_rows(conn, info, [key for key, _ in ranked])
    score = free_name("score", set(names))
    found = [(*rows[key], value) for key, value in ranked if key in rows][:k]
    return pd.DataFrame(found, columns=[*names, score])
