"""``manage.py load_file``: one file through the demo import, in process, with plain output."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command

from backend.pipelines.demo import create_demo_rules
from backend.pipelines.models import PipelineConfig
from backend.pipelines.specs import import_spec_active
from backend.runs.models import LoadedFile, PipelineRunLog, QualityRunLog
from backend.runs.preflight import file_preflight
from tests.dagster_code.conftest import DEMO_DIR
from tests.factories import DataQualityRuleFactory, demo_region_from_sku_rule

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


def test_only_plain_lines_reach_the_terminal(demo_pipeline, demo_warehouse, elsewhere, capfd):
    path = Path(shutil.copy(DEMO_DIR / "sales_2024-01-01.csv", elsewhere / "plain.csv"))

    code, output = run("daily_sales", str(path))

    assert code == 0
    terminal = capfd.readouterr()
    for text in (output, terminal.out, terminal.err):
        assert "STEP_START" not in text and "DEBUG" not in text and "dagster -" not in text
        assert "alembic" not in text
    assert "  plain.csv: 24 rows loaded into staging.daily_sales" in output


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


# ------------------------------------------------------------------ --dry-run: the pre-flight, nothing changes

HEADER = "sale_id,sale_date,region,product_sku,quantity,amount\n"
ONLY_WARNINGS = (
    HEADER + "1,2024-01-02,North,SKU-1,2,10.00\n2,2024-01-02,,SKU-2,0,5.00\n3,2024-01-02,Mars,SKU-3,1,4.00\n"
)
STOPPED = ONLY_WARNINGS + "4,2024-01-02,South,SKU-4,1,-1.00\n"


def snapshot(url: str) -> dict[str, tuple[int, list[str]]]:
    """Count and every row (PostgreSQL's text of it) of the demo tables."""
    with psycopg.connect(url) as conn:
        return {
            table: (
                conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0],
                [r[0] for r in conn.execute(f"SELECT t::text FROM {table} AS t ORDER BY 1").fetchall()],
            )
            for table in ("staging.daily_sales", "dw.sales")
        }


def outcomes_of(results) -> list[tuple]:
    """Rule outcomes as the quality log stores them, from engine results or QualityRunLog rows."""
    rows = []
    for r in results:
        if isinstance(r, QualityRunLog):
            rows.append((r.rule_name, r.outcome, r.rows_checked, r.failing_rows, r.detail, r.sample))
        else:
            outcome = "PASS" if r.passed else r.severity
            sample = [{k: None if v is None else str(v) for k, v in row.items()} for row in r.sample]
            rows.append((r.name, outcome, r.rows_checked, r.rows_failing, r.message, sample))
    return sorted(rows)


@pytest.fixture
def sales_rules(demo_pipeline, demo_warehouse):
    """The demo rules, a WARN rule on regions, and an enrichment of empty regions from dw.sku_regions."""
    create_demo_rules()
    DataQualityRuleFactory(
        rule_name="known_region",
        target_table="staging.daily_sales",
        target_column="region",
        check_type="IS_IN_SET",
        check_expression='["North", "South", "East", "West"]',
        severity="WARN",
    )
    demo_region_from_sku_rule()
    with psycopg.connect(demo_warehouse, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS dw.sku_regions")
        conn.execute("CREATE TABLE dw.sku_regions (sku text, region text)")
        conn.execute("INSERT INTO dw.sku_regions VALUES ('SKU-2', 'East')")
    yield
    with psycopg.connect(demo_warehouse, autocommit=True) as conn:
        conn.execute("DROP TABLE dw.sku_regions")


@pytest.mark.parametrize("text, code, verdict", [(ONLY_WARNINGS, 0, "The file would load."), (STOPPED, 1, None)])
def test_a_dry_run_shows_the_outcomes_a_real_load_records_and_changes_nothing(
    sales_rules, demo_warehouse, elsewhere, text, code, verdict
):
    path = elsewhere / "day2.csv"
    path.write_text(text)
    before = snapshot(demo_warehouse)

    dry_code, output = run("--dry-run", "daily_sales", str(path))
    previewed = file_preflight(import_spec_active("daily_sales"), path, warehouse_url=demo_warehouse)

    assert dry_code == code, output
    assert output.splitlines()[-1] == "Nothing was changed (dry run)."
    assert snapshot(demo_warehouse) == before
    assert (PipelineRunLog.objects.count(), QualityRunLog.objects.count(), LoadedFile.objects.count()) == (0, 0, 0)
    assert f"Read {text.count(chr(10)) - 1} rows from the file." in output
    assert "  region -> region" in output
    assert "  region_from_sku: 1 value(s) filled, 0 still missing" in output
    assert "Traceback" not in output
    if verdict:
        assert verdict in output
    else:
        assert "Failed: the load would be stopped by data quality (sales_amount_not_negative)." in output

    real_code, real_output = run("daily_sales", str(path))

    assert real_code == code, real_output
    run_id = PipelineRunLog.objects.get(step="extract_load").dagster_run_id
    logged = QualityRunLog.objects.filter(dagster_run_id=run_id)
    assert outcomes_of(previewed.rules) == outcomes_of(logged)
    for q in logged:
        shown = "PASS" if q.outcome == "PASS" else q.severity
        assert f"  {shown} {q.rule_name} ({q.check_type}, {q.severity}): {q.detail}" in output
    assert "known_region: 1 of" in output and "Sample: (sale_id=3, region=Mars)." in output


def test_a_dry_run_previews_the_rows_as_staged(sales_rules, demo_warehouse, elsewhere):
    path = elsewhere / "day2.csv"
    path.write_text(ONLY_WARNINGS)

    output = run("--dry-run", "daily_sales", str(path))[1]

    preview = output.split("Preview (first 3 rows, after enrichment):\n")[1].splitlines()
    assert preview[0].split(" | ")[:6] == ["  sale_id", "sale_date ", "region", "product_sku", "quantity", "amount"]
    assert sorted(line.split(" | ")[2].strip() for line in preview[1:4]) == ["East", "Mars", "North"]


def test_a_dry_run_of_a_file_that_cannot_load_exits_1_with_the_plain_error(demo_pipeline, demo_warehouse, elsewhere):
    bad = elsewhere / "bad.csv"
    bad.write_text(HEADER + "1,2024-01-01,North,SKU-1,two,1.00\n")
    before = snapshot(demo_warehouse)

    code, output = run("--dry-run", "daily_sales", str(bad))

    assert code == 1
    assert "Failed: bad.csv: invalid input syntax for type integer" in output
    assert "data row 1, column quantity" in output and "What to do:" in output
    assert "Read 0 rows" not in output and "Traceback" not in output
    assert output.splitlines()[-1] == "Nothing was changed (dry run)."
    assert snapshot(demo_warehouse) == before
    assert PipelineRunLog.objects.count() == 0


def test_a_dry_run_still_refuses_a_link_leading_out_of_its_folder(demo_pipeline, demo_warehouse, elsewhere, tmp_path):
    secret = tmp_path / "secret.csv"
    shutil.copy(DEMO_DIR / "sales_2024-01-01.csv", secret)
    (elsewhere / "innocent.csv").symlink_to(secret)

    code, output = run("--dry-run", "daily_sales", str(elsewhere / "innocent.csv"))

    assert code == 2
    assert output.strip() == f"innocent.csv is a link to a file outside the folder {elsewhere}; it was not loaded."


def test_a_dry_run_of_an_unknown_import_is_a_usage_error(demo_pipeline, elsewhere):
    path = Path(shutil.copy(DEMO_DIR / "sales_2024-01-01.csv", elsewhere / "x.csv"))

    code, output = run("--dry-run", "no_such_import", str(path))

    assert (code, output.strip()) == (2, "There is no import named no_such_import. Active imports: daily_sales.")
