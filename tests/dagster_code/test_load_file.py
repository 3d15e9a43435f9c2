"""``manage.py load_file``: one file through the demo import, in process, with plain output."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command

from backend.pipelines.models import PipelineConfig
from backend.runs.models import LoadedFile, PipelineRunLog
from tests.dagster_code.conftest import DEMO_DIR

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("load_file", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code), out.getvalue()
    return 0, out.getvalue()


def counts(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        return (
            conn.execute("SELECT count(*) FROM staging.daily_sales").fetchone()[0],
            conn.execute("SELECT count(*) FROM dw.sales").fetchone()[0],
        )


@pytest.fixture(autouse=True)
def _command_uses_the_test_warehouse(monkeypatch, demo_warehouse: str) -> None:
    """The command builds its resources from the environment, as in production."""
    monkeypatch.setenv("WAREHOUSE_URL", demo_warehouse)


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder that is not the import's watched folder."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


def test_a_file_from_any_folder_goes_all_the_way_and_the_counts_are_printed(demo_pipeline, demo_warehouse, elsewhere):
    path = Path(shutil.copy(DEMO_DIR / "sales_2024-01-01.csv", elsewhere / "backfill.csv"))

    code, output = run("daily_sales", str(path))

    assert code == 0, output
    assert "Loading backfill.csv with import daily_sales (pipeline RetailSales)..." in output
    assert "Read 24 rows from the file." in output
    assert "Loaded 24 rows into staging.daily_sales." in output
    assert "Loaded 24 rows into dw.sales." in output
    assert "Succeeded (run " in output
    assert "Traceback" not in output
    assert counts(demo_warehouse) == (24, 24)
    entry = LoadedFile.objects.get(file_name="backfill.csv")
    assert (entry.status, entry.rows, entry.source.split(":")[0]) == ("LOADED", 24, "cli")


def test_the_same_file_again_is_skipped_unless_forced(demo_pipeline, demo_warehouse, elsewhere):
    path = Path(shutil.copy(DEMO_DIR / "sales_2024-01-01.csv", elsewhere / "day1.csv"))
    assert run("daily_sales", str(path))[0] == 0

    code, output = run("daily_sales", str(path))

    assert code == 0
    assert "day1.csv was already loaded on" in output
    assert "Use --force to load it again." in output
    assert "Loaded 0 rows into staging.daily_sales." in output
    assert counts(demo_warehouse) == (24, 24)

    code, output = run("--force", "daily_sales", str(path))

    assert code == 0, output
    assert "Loaded 24 rows into staging.daily_sales." in output
    assert counts(demo_warehouse) == (48, 24)  # the demo procedure updates re-delivered sales in place


def test_a_bad_file_exits_non_zero_with_the_plain_error_and_changes_nothing(demo_pipeline, demo_warehouse, elsewhere):
    bad = elsewhere / "bad.csv"
    bad.write_text("sale_id,sale_date,region,product_sku,quantity,amount\n1,2024-01-01,North,SKU-1,two,1.00\n")

    code, output = run("daily_sales", str(bad))

    assert code == 1
    assert "Failed: bad.csv:" in output and "data row 1, column quantity" in output
    assert "What to do:" in output
    assert "Traceback" not in output
    assert counts(demo_warehouse) == (0, 0)
    assert PipelineRunLog.objects.get(step="extract_load").status == "FAILURE"


def test_a_header_only_file_loads_zero_rows(demo_pipeline, demo_warehouse, elsewhere):
    empty = elsewhere / "empty_day.csv"
    empty.write_text("sale_id,sale_date,region,product_sku,quantity,amount\n")

    code, output = run("daily_sales", str(empty))

    assert code == 0, output
    assert "Loaded 0 rows into staging.daily_sales." in output


def test_a_link_leading_out_of_its_folder_is_refused(demo_pipeline, demo_warehouse, elsewhere, tmp_path):
    secret = tmp_path / "secret.csv"
    shutil.copy(DEMO_DIR / "sales_2024-01-01.csv", secret)
    (elsewhere / "innocent.csv").symlink_to(secret)

    code, output = run("daily_sales", str(elsewhere / "innocent.csv"))

    assert code == 2
    assert output.strip() == f"innocent.csv is a link to a file outside the folder {elsewhere}; it was not loaded."
    assert counts(demo_warehouse) == (0, 0)


def test_an_excel_file_given_to_a_csv_import_is_refused_in_plain_words(demo_pipeline, demo_warehouse, elsewhere):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.active.append(["sale_id", "sale_date", "region", "product_sku", "quantity", "amount"])
    book.active.append([1, "2024-01-01", "North", "SKU-1", 2, 1.5])
    book.save(elsewhere / "sales.csv")

    code, output = run("daily_sales", str(elsewhere / "sales.csv"))

    assert code == 1
    assert "Failed: sales.csv looks like an Excel workbook" in output
    assert counts(demo_warehouse) == (0, 0)


@pytest.mark.parametrize(
    "args, message",
    [
        (("no_such_import", "{file}"), "There is no import named no_such_import. Active imports: daily_sales."),
        (("daily_sales", "/nowhere/at/all.csv"), "There is no file at /nowhere/at/all.csv."),
    ],
)
def test_usage_errors_are_one_plain_line(demo_pipeline, elsewhere, args, message):
    path = Path(shutil.copy(DEMO_DIR / "sales_2024-01-01.csv", elsewhere / "x.csv"))

    code, output = run(*(a.format(file=path) for a in args))

    assert (code, output.strip()) == (2, message)


def test_an_inactive_import_says_so(demo_pipeline, elsewhere):
    PipelineConfig.objects.filter(import_name="daily_sales").update(is_active=False)
    path = Path(shutil.copy(DEMO_DIR / "sales_2024-01-01.csv", elsewhere / "x.csv"))

    code, output = run("daily_sales", str(path))

    assert code == 2
    assert "The import daily_sales is inactive" in output
