"""Every kind of bad input through the demo import: the run fails, nothing changes, the log says what to do."""

from __future__ import annotations

import psycopg
import pytest

from backend.pipelines.models import PipelineConfig
from backend.runs.models import PipelineRunLog
from tests.dagster_code.conftest import drop_demo_file
from tests.dagster_code.test_end_to_end import _materialize

pytestmark = pytest.mark.django_db

HEADER = "sale_id,sale_date,region,product_sku,quantity,amount\n"


def _snapshot(url: str) -> tuple[list[tuple], list[tuple]]:
    with psycopg.connect(url) as conn:
        staging = conn.execute("SELECT sale_id, dagster_run_id FROM staging.daily_sales ORDER BY 1, 2").fetchall()
        destination = conn.execute("SELECT sale_id, amount FROM dw.sales ORDER BY 1").fetchall()
    return staging, destination


BAD_FILES = {
    "empty": (b"", "sales_bad.csv is empty"),
    "ragged": ((HEADER + "1,2024-01-01,North,SKU-1,2,1.00\n2,2024-01-01,South,SKU-2,3\n").encode(), "data row 2 has 5"),
    "wrong_encoding": (
        (HEADER + "1,2024-01-01,Zürich,SKU-1,2,1.00\n").encode("latin-1"),
        "sales_bad.csv: the file is not valid utf-8 text",
    ),
    "duplicate_header": (
        b"sale_id,sale_date,region,region,quantity,amount\n1,2024-01-01,N,S,2,1.00\n",
        "repeats column(s) region",
    ),
    "drifted_header": (
        b"sale_id,date,region,product_sku,qty,amount\n1,2024-01-01,N,S,2,1.00\n",
        "missing column(s) sale_date, quantity; unexpected column(s) date, qty",
    ),
    "bad_value": ((HEADER + "1,2024-01-01,North,SKU-1,two,1.00\n").encode(), "data row 1, column quantity"),
    "excel_named_csv": (b"PK\x03\x04" + b"\x00" * 64, "looks like"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_a_bad_file_changes_nothing_and_leaves_a_log_row_a_person_can_act_on(
    demo_pipeline, demo_warehouse, incoming, kind
):
    assert _materialize(demo_pipeline, [drop_demo_file(incoming)]).success
    before = _snapshot(demo_warehouse)
    content, expected = BAD_FILES[kind]
    bad = incoming / "sales_bad.csv"
    bad.write_bytes(content)

    result = _materialize(demo_pipeline, [bad])

    assert not result.success
    assert _snapshot(demo_warehouse) == before
    log = PipelineRunLog.objects.get(dagster_run_id=result.run_id, step="extract_load")
    assert log.status == "FAILURE"
    assert expected in log.error_message
    assert log.resolution_hint
    assert "Traceback" not in log.error_message + log.resolution_hint
    assert str(incoming) not in log.error_message  # the file's name, not where it lives on the server


def test_a_very_long_field_loads(demo_pipeline, demo_warehouse, incoming):
    region = "R" * 1_000_000
    path = incoming / "sales_long.csv"
    path.write_text(HEADER + f"1,2024-01-01,{region},SKU-1,2,1.00\n")

    assert _materialize(demo_pipeline, [path]).success
    with psycopg.connect(demo_warehouse) as conn:
        assert conn.execute("SELECT length(region) FROM dw.sales").fetchone()[0] == 1_000_000


def test_a_link_leading_out_of_the_folder_fails_the_run_without_reading_it(
    demo_pipeline, demo_warehouse, incoming, tmp_path
):
    secret = tmp_path / "secret.csv"
    secret.write_text(HEADER + "1,2024-01-01,North,SKU-1,2,1.00\n")
    link = incoming / "sales_link.csv"
    link.symlink_to(secret)

    result = _materialize(demo_pipeline, [link])

    assert not result.success
    log = PipelineRunLog.objects.get(dagster_run_id=result.run_id)
    assert log.error_message.startswith("sales_link.csv is a link to a file outside the monitored folder")
    assert _snapshot(demo_warehouse) == ([], [])


def test_an_unregistered_parser_stops_the_import_before_any_file_is_read(demo_pipeline):
    from backend.pipelines.specs import load_active_specs
    from dagster_code.factory import build_definitions

    PipelineConfig.objects.filter(import_name="daily_sales").update(file_type="custom", parser_function="os.system")

    report = build_definitions(load_active_specs())

    assert report.errors["daily_sales"].startswith("No parser is registered for 'os.system'. Registered parsers:")
    assert "daily_sales_extract_and_load_staging" not in {
        key.to_user_string() for key in report.definitions.resolve_all_asset_keys()
    }
