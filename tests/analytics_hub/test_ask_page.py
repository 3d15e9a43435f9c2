"""Ask your data against a local OpenAI-compatible server: the SQL shown, run read-only, charted; unsafe SQL refused
with a readable reason; no key -> how to configure one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg import sql

from tests.analytics_hub.conftest import go_to, run_app
from tests.analytics_hub.fake_openai import FakeOpenAI, FakeReply


@pytest.fixture
def model(monkeypatch) -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_MODEL", "local-test-model")
        yield server


@pytest.fixture
def sales(hub_world) -> str:
    rows = [(1, "North", 10.0), (2, "South", 5.5), (3, "North", 4.5)]
    return hub_world.create("sales", "id integer primary key, region text, amount numeric", rows)


def _ask(app, question: str):
    app.text_area(key="ask_question").input(question)
    app.button(key="ask_run").click()
    return run_app(app)


def test_a_question_becomes_checked_sql_whose_result_is_shown_and_charted(hub_world, sales, model, signed_in):
    model.set_replies(
        [f"```sql\nSELECT region, sum(amount) AS total FROM {sales} GROUP BY region ORDER BY region\n```"]
    )

    app = _ask(go_to(signed_in("viewer"), "ask.py"), "Total sales per region?")

    assert not app.error
    assert "SUM(amount) AS total" in app.code[0].value
    assert app.dataframe[0].value.astype({"total": float}).to_dict("records") == [
        {"region": "North", "total": 14.5},
        {"region": "South", "total": 5.5},
    ]
    assert app.get("plotly_chart")
    prompt = model.requests[0]
    assert prompt.body["model"] == "local-test-model"
    assert "Total sales per region?" in prompt.text() and sales.split(".")[1] in prompt.text()
    assert "payroll" not in prompt.text()  # tables the user may not query are not described


def test_an_unsafe_answer_is_refused_with_a_reason_and_changes_nothing(hub_world, sales, model, signed_in):
    model.set_replies([f"DELETE FROM {sales}"])

    app = _ask(go_to(signed_in("viewer"), "ask.py"), "Remove everything")

    assert app.error[0].value.startswith("The generated query was refused:")
    assert f"DELETE FROM {sales}" in app.code[0].value
    assert not app.dataframe
    schema, name = sales.split(".")
    count = hub_world.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name)))
    assert count.fetchone()[0] == 3


def test_a_query_on_a_table_outside_the_users_grants_is_refused(hub_world, sales, model, signed_in):
    payroll = hub_world.create("payroll", "id integer, salary numeric", [(1, 100.0)])
    model.set_replies([f"SELECT * FROM {payroll}"])

    app = _ask(go_to(signed_in("viewer"), "ask.py"), "Show salaries")

    assert "refused" in app.error[0].value
    assert not app.dataframe


def test_a_model_server_error_is_explained_in_plain_words(hub_world, sales, model, signed_in):
    model.set_replies([FakeReply(status=500, message="boom"), FakeReply(status=500, message="boom")])

    app = _ask(go_to(signed_in("viewer"), "ask.py"), "Total?")

    assert len(app.error) == 1 and "sk-test-not-real" not in app.error[0].value
    assert not app.dataframe


def test_without_an_api_key_the_page_explains_how_to_configure_one(hub_world, signed_in):
    app = go_to(signed_in("viewer"), "ask.py")

    assert "none is configured yet" in app.info[0].value
    assert "OPENAI_API_KEY" in app.markdown[0].value
    assert not app.text_area
