"""Questions to SQL through a local OpenAI-compatible server: only validated SQL comes back."""

from __future__ import annotations

import socket

import keyring
import psycopg
import pytest
from keyring.backends.null import Keyring as NullKeyring
from psycopg import sql

from analytics_hub.ml.nl2sql import (
    DEFAULT_MODEL,
    ColumnDescription,
    ModelUnavailable,
    NotConfigured,
    SchemaDescription,
    TableDescription,
    UnusableAnswer,
    client_from_env,
    describe_schema,
    extract_sql,
    generate_sql,
)
from analytics_hub.ml.sql_safety import UnsafeSQL, run_safe_query
from tests.analytics_hub.fake_openai import FakeOpenAI, FakeReply

QUESTION = "Which customers spent the most?"


@pytest.fixture
def shop(warehouse: psycopg.Connection, warehouse_schema: str) -> str:
    s = sql.Identifier(warehouse_schema)
    warehouse.execute(sql.SQL("CREATE TABLE {}.customers (id int PRIMARY KEY, name text)").format(s))
    warehouse.execute(sql.SQL('CREATE TABLE {}.orders (id int, customer_id int, "Amount €" numeric(8, 2))').format(s))
    warehouse.execute(sql.SQL("CREATE TABLE {}.internal_notes (note text)").format(s))
    warehouse.execute(sql.SQL("INSERT INTO {}.customers VALUES (1, 'Ada'), (2, 'Grace')").format(s))
    warehouse.execute(sql.SQL("INSERT INTO {}.orders VALUES (1, 1, 5), (2, 2, 50), (3, 2, 1)").format(s))
    return warehouse_schema


@pytest.fixture
def schema(warehouse: psycopg.Connection, shop: str) -> SchemaDescription:
    return describe_schema(warehouse, schemas=[shop], tables=[f"{shop}.customers", f"{shop}.orders"])


@pytest.fixture
def no_keyring() -> object:
    previous = keyring.get_keyring()
    keyring.set_keyring(NullKeyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def test_describe_schema_lists_tables_columns_and_types(schema, shop):
    assert schema == SchemaDescription(
        tables=(
            TableDescription(
                shop, "customers", (ColumnDescription("id", "integer"), ColumnDescription("name", "text"))
            ),
            TableDescription(
                shop,
                "orders",
                (
                    ColumnDescription("id", "integer"),
                    ColumnDescription("customer_id", "integer"),
                    ColumnDescription("Amount €", "numeric"),
                ),
            ),
        )
    )
    assert schema.to_prompt() == (
        f'{shop}.customers(id integer, name text)\n{shop}.orders(id integer, customer_id integer, "Amount €" numeric)'
    )
    assert schema.table_names == {f"{shop}.customers", f"{shop}.orders"}


def test_safe_completion_is_validated_and_the_request_carries_schema_question_and_model(
    fake_openai, schema, shop, monkeypatch
):
    monkeypatch.setenv("OPENAI_MODEL", "local-test-model")
    fake_openai.set_replies([f"SELECT c.name FROM {shop}.customers AS c ORDER BY c.name"])

    result = generate_sql(QUESTION, schema=schema, client=fake_openai.client())

    assert result == f"SELECT c.name FROM {shop}.customers AS c ORDER BY c.name"
    (request,) = fake_openai.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "local-test-model"
    assert request.body["temperature"] == 0
    assert request.headers["Authorization"] == "Bearer sk-test-fake"
    system, user = request.messages
    assert system["role"] == "system" and schema.to_prompt() in system["content"]
    assert "one read-only SELECT" in system["content"] and "no explanation" in system["content"]
    assert user == {"role": "user", "content": QUESTION}


def test_fenced_reply_with_prose_is_extracted(fake_openai, schema, shop):
    fake_openai.set_replies(
        [f"Sure! Here is the query:\n\n```sql\nSELECT count(*) FROM {shop}.orders;\n```\n\nIt counts the orders."]
    )

    assert generate_sql(QUESTION, schema=schema, client=fake_openai.client()) == f"SELECT COUNT(*) FROM {shop}.orders"


@pytest.mark.parametrize(
    "reply,expected",
    [
        ("```\nSELECT 1\n```", "SELECT 1"),
        ("```SQL\nWITH a AS (SELECT 1) SELECT * FROM a;\n```", "WITH a AS (SELECT 1) SELECT * FROM a"),
        ("The answer is:\nselect 2;", "select 2"),
        ("  SELECT 3  ", "SELECT 3"),
        ("I cannot answer that from these tables.", ""),
    ],
)
def test_extract_sql(reply, expected):
    assert extract_sql(reply) == expected


@pytest.mark.parametrize(
    "reply,reason",
    [
        ("DELETE FROM {s}.orders", "Data-changing statements are not allowed (DELETE)."),
        ("I will clean up first:\nDROP TABLE {s}.orders", "Changing the database structure is not allowed (DROP)."),
        ("```sql\nSELECT pg_sleep(10)\n```", "The function pg_sleep is not allowed."),
        ("SELECT 1; DROP TABLE {s}.orders", "Only one statement is allowed; this text holds 2."),
        ("SELECT * FROM {s}.internal_notes", "Table {s}.internal_notes is not one of the tables you may query."),
        (
            "SELECT rolpassword FROM pg_catalog.pg_authid",
            "Table pg_catalog.pg_authid is outside the schemas you may query (allowed: {s}).",
        ),
    ],
)
def test_unsafe_completion_is_refused_and_keeps_the_sql(fake_openai, schema, shop, warehouse, reply, reason):
    fake_openai.set_replies([reply.format(s=shop)])

    with pytest.raises(UnsafeSQL) as refused:
        generate_sql(QUESTION, schema=schema, client=fake_openai.client())

    assert refused.value.message == reason.format(s=shop)
    assert refused.value.sql == extract_sql(reply.format(s=shop))
    assert warehouse.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(shop, "orders"))).fetchone() == (
        3,
    )


def test_prose_only_answer_is_unusable(fake_openai, schema):
    fake_openai.set_replies(["I am not sure which table holds that."])

    with pytest.raises(UnusableAnswer) as unusable:
        generate_sql(QUESTION, schema=schema, client=fake_openai.client())

    assert unusable.value.message == "The model did not answer with a SQL query. Try rephrasing the question."
    assert unusable.value.reply == "I am not sure which table holds that."


def test_blank_question_is_not_sent(fake_openai, schema):
    with pytest.raises(UnusableAnswer, match="Type a question first"):
        generate_sql("  ", schema=schema, client=fake_openai.client())

    assert fake_openai.requests == []


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_error_is_model_unavailable(fake_openai, schema, status):
    fake_openai.set_replies([FakeReply(status=status, message="overloaded")])

    with pytest.raises(ModelUnavailable) as unavailable:
        generate_sql(QUESTION, schema=schema, client=fake_openai.client())

    assert unavailable.value.message == f"The language model service answered with an error (HTTP {status})."
    assert len(fake_openai.requests) == 1


def test_rejected_key_never_appears_in_the_error(fake_openai, schema):
    key = "sk-live-very-secret-123"
    fake_openai.set_replies([FakeReply(status=401, message=f"Incorrect API key provided: {key}")])

    with pytest.raises(ModelUnavailable) as unavailable:
        generate_sql(QUESTION, schema=schema, client=fake_openai.client(api_key=key))

    error = unavailable.value
    assert error.message == "The language model service answered with an error (HTTP 401). Check OPENAI_API_KEY."
    assert key not in error.message and key not in error.detail and key not in str(error)
    assert "[hidden]" in error.detail


def test_unreachable_server_is_model_unavailable(schema):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    import openai

    client = openai.OpenAI(api_key="sk-x", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=2)

    with pytest.raises(ModelUnavailable) as unavailable:
        generate_sql(QUESTION, schema=schema, client=client)

    assert unavailable.value.message == (
        "The language model service could not be reached. Check OPENAI_BASE_URL and the network."
    )


def test_slow_server_is_model_unavailable(fake_openai, schema):
    fake_openai.set_replies([FakeReply(content="SELECT 1", delay_s=1.5)])

    with pytest.raises(ModelUnavailable) as unavailable:
        generate_sql(QUESTION, schema=schema, client=fake_openai.client(timeout=0.3))

    assert unavailable.value.message == "The language model service took too long to answer. Try again in a moment."


def test_no_api_key_is_not_configured_with_instructions(monkeypatch, no_keyring):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    with pytest.raises(NotConfigured) as missing:
        client_from_env()

    message = missing.value.message
    assert "OPENAI_API_KEY" in message and "OPENAI_BASE_URL" in message and "OPENAI_MODEL" in message
    assert DEFAULT_MODEL in message


def test_client_from_env_talks_to_the_configured_server_end_to_end(
    monkeypatch, no_keyring, schema, shop, reader_role_name, warehouse, warehouse_url
):
    from analytics_hub.ml.reader_role import ensure_reader_role, reader_conninfo

    def answer(body: dict) -> str:
        assert body["messages"][-1]["content"] == QUESTION
        return (
            f'SELECT c.name, sum(o."Amount €") AS spent FROM {shop}.orders AS o JOIN {shop}.customers AS c'
            " ON c.id = o.customer_id GROUP BY c.name ORDER BY spent DESC"
        )

    with FakeOpenAI(answer) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.delenv("OPENAI_MODEL", raising=False)
        client = client_from_env()
        generated = generate_sql(QUESTION, schema=schema, client=client)

        assert (client.max_retries, server.requests[0].body["model"]) == (1, DEFAULT_MODEL)
        assert server.requests[0].headers["Authorization"] == "Bearer sk-env-key"

    ensure_reader_role(warehouse, role=reader_role_name, schemas=[shop])
    with psycopg.connect(reader_conninfo(warehouse_url, role=reader_role_name, password=None), autocommit=True) as conn:
        _, frame = run_safe_query(conn, generated, allowed_schemas=schema.schemas, max_rows=10, timeout_s=5)
    assert [(name, float(spent)) for name, spent in frame.itertuples(index=False)] == [("Grace", 51.0), ("Ada", 5.0)]


def test_prompt_text_schema_needs_allowed_schemas(fake_openai):
    fake_openai.set_replies(["SELECT x FROM s.t"])

    with pytest.raises(ValueError, match="allowed_schemas is required"):
        generate_sql(QUESTION, schema="s.t(x int)", client=fake_openai.client())
    assert generate_sql(QUESTION, schema="s.t(x int)", client=fake_openai.client(), allowed_schemas=["s"]) == (
        "SELECT x FROM s.t"
    )


def test_fake_server_serves_the_unversioned_path_and_reports_running_out_of_replies(fake_openai):
    import openai

    fake_openai.set_replies(["SELECT 1"])
    client = openai.OpenAI(api_key="k", base_url=fake_openai.base_url.removesuffix("/v1"), max_retries=0)

    first = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])

    assert first.choices[0].message.content == "SELECT 1"
    assert [request.path for request in fake_openai.requests] == ["/chat/completions", "/chat/completions"]
