"""lint_configs: what a save cannot check, found in the warehouse, the folders and the environment."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from psycopg import sql

from backend.pipelines.config_lint import common_file_name
from backend.pipelines.models import PipelineConfig
from tests.factories import DataEnrichmentRuleFactory, DataQualityRuleFactory, PipelineConfigFactory


def lint(*args: str) -> tuple[int, list[str]]:
    out = io.StringIO()
    try:
        call_command("lint_configs", *args, stdout=out)
    except CommandError:
        return 1, out.getvalue().splitlines()
    return 0, out.getvalue().splitlines()


@pytest.fixture
def setup(db, settings, warehouse, warehouse_url, warehouse_schema, tmp_path) -> dict[str, str]:
    """Two sound imports in one folder (a dependency between them), a rule, an enrichment rule."""
    settings.WAREHOUSE_URL = warehouse_url
    s = warehouse_schema
    for statement in (
        "CREATE TABLE {}.stg_sales (sale_id integer, sku text, dagster_run_id text)",
        "CREATE TABLE {}.sales (sale_id integer, sku text)",
        "CREATE TABLE {}.stg_stores (store_id integer, dagster_run_id text)",
        "CREATE TABLE {}.stores (store_id integer)",
        "CREATE TABLE {}.products (sku text, category text)",
        "CREATE PROCEDURE {}.load_sales(run_id text, tables text[]) LANGUAGE sql AS $$ SELECT 1 $$",
    ):
        warehouse.execute(sql.SQL(statement).format(sql.Identifier(s)))
    folder = tmp_path / "incoming"
    folder.mkdir()
    stores = PipelineConfigFactory(
        import_name="stores",
        file_pattern="stores_*.csv",
        monitored_directory=str(folder),
        staging_table=f"{s}.stg_stores",
        destination_table=f"{s}.stores",
    )
    sales = PipelineConfigFactory(
        import_name="sales",
        file_pattern="sales_*.csv",
        monitored_directory=str(folder),
        staging_table=f"{s}.stg_sales",
        destination_table=f"{s}.sales",
        transform_procedure=f"{s}.load_sales",
    )
    sales.depends_on.add(stores)
    DataQualityRuleFactory(rule_name="sale_id_present", target_table=f"{s}.stg_sales", target_column="sale_id")
    DataEnrichmentRuleFactory(
        rule_name="category_from_sku",
        target_staging_table=f"{s}.stg_sales",
        target_column_to_enrich="sku",
        lookup_table=f"{s}.products",
        lookup_key_column_staging="sku",
        lookup_key_column_lookup="sku",
        lookup_value_column="category",
    )
    return {"schema": s, "folder": str(folder)}


def exported(tmp_path: Path) -> dict:
    out = io.StringIO()
    call_command("export_configs", stdout=out)
    return yaml.safe_load(out.getvalue())


def lint_document(tmp_path: Path, document: dict) -> tuple[int, list[str], Path]:
    path = tmp_path / "configs.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    code, lines = lint(str(path))
    return code, lines, path


def test_a_sound_setup_passes_from_the_database_and_from_its_export(setup, tmp_path):
    assert lint() == (0, ["2 imports checked, no problems."])
    code, lines, _ = lint_document(tmp_path, exported(tmp_path))
    assert (code, lines) == (0, ["2 imports checked, no problems."])


def test_missing_tables_and_columns_in_the_warehouse_are_named(setup, warehouse, tmp_path):
    s = setup["schema"]
    warehouse.execute(sql.SQL("ALTER TABLE {}.stg_stores DROP COLUMN dagster_run_id").format(sql.Identifier(s)))
    warehouse.execute(sql.SQL("DROP TABLE {}.sales, {}.products").format(sql.Identifier(s), sql.Identifier(s)))

    code, lines = lint()

    assert code == 1
    assert lines == [
        f"database: import sales: destination_table: {s}.sales does not exist in the warehouse.",
        f"database: import stores: staging_table: {s}.stg_stores has no column dagster_run_id.",
        f"database: enrichment rule category_from_sku: lookup_table: {s}.products does not exist in the warehouse.",
    ]


def test_a_transform_procedure_must_exist_with_the_text_and_text_array_signature(setup, warehouse, tmp_path):
    s = setup["schema"]
    warehouse.execute(sql.SQL("DROP PROCEDURE {}.load_sales").format(sql.Identifier(s)))
    warehouse.execute(
        sql.SQL("CREATE PROCEDURE {}.load_sales(run_id integer) LANGUAGE sql AS $$ SELECT 1 $$").format(
            sql.Identifier(s)
        )
    )
    warehouse.execute(
        sql.SQL("CREATE FUNCTION {}.as_function(a text, b text[]) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$").format(
            sql.Identifier(s)
        )
    )
    document = exported(tmp_path)
    document["imports"].append(
        {
            **document["imports"][0],
            "import_name": "other",
            "file_pattern": "other.csv",
            "transform_procedure": f"{s}.as_function",
        }
    )
    document["imports"].append(
        {
            **document["imports"][0],
            "import_name": "third",
            "file_pattern": "third.csv",
            "transform_procedure": f"{s}.nowhere",
        }
    )

    code, lines, path = lint_document(tmp_path, document)

    assert code == 1
    assert [line.split(": ", 1)[1] for line in lines] == [
        f"imports[0] (sales): transform_procedure: the warehouse has {s}.load_sales(integer) but no "
        f"{s}.load_sales(text, text[]).",
        f"imports[2] (other): transform_procedure: {s}.as_function(text, text[]) is a function; "
        "it must be a procedure.",
        f"imports[3] (third): transform_procedure: the warehouse has no procedure {s}.nowhere(text, text[]).",
    ]
    assert lines[0].startswith(f"{path}:")


def test_monitored_folders_must_exist_and_be_folders(setup, tmp_path):
    document = exported(tmp_path)
    document["imports"][0]["monitored_directory"] = str(tmp_path / "gone")
    (tmp_path / "a_file").write_text("x")
    document["imports"][1]["monitored_directory"] = str(tmp_path / "a_file")

    code, lines, _ = lint_document(tmp_path, document)

    assert code == 1
    assert [line.split(": ", 1)[1] for line in lines] == [
        f"imports[0] (sales): monitored_directory: {tmp_path / 'gone'} does not exist.",
        f"imports[1] (stores): monitored_directory: {tmp_path / 'a_file'} is not a folder.",
    ]


def test_two_active_imports_claiming_the_same_files_are_named_with_a_file_both_match(setup, tmp_path):
    document = exported(tmp_path)
    document["imports"][1]["file_pattern"] = "*_2024.csv"

    code, lines, _ = lint_document(tmp_path, document)

    assert code == 1
    assert [line.split(": ", 1)[1] for line in lines] == [
        f"imports[1] (stores): file_pattern: claims the same files as imports[0] (sales) in {setup['folder']}: "
        "'*_2024.csv' and 'sales_*.csv' both match e.g. sales_2024.csv."
    ]

    document["imports"][1]["is_active"] = False
    assert lint_document(tmp_path, document)[:2] == (0, ["1 imports checked, no problems."])


def test_dependency_cycles_and_unknown_dependencies_in_a_file(setup, tmp_path):
    document = exported(tmp_path)
    document["imports"][1]["depends_on"] = ["sales", "nowhere"]

    code, lines, _ = lint_document(tmp_path, document)

    assert code == 1
    assert [line.split(": ", 1)[1] for line in lines] == [
        "imports[1] (stores): depends_on: nowhere is neither in the file nor in the database.",
        "imports[0] (sales): depends_on: these dependencies form a cycle: sales -> stores -> sales.",
    ]


def test_the_warehouse_connection_must_be_set_and_no_credential_written_into_a_config(setup, settings, tmp_path):
    PipelineConfig.objects.filter(import_name="stores").update(scraper_config={"api": {"token": "abc123"}})
    settings.WAREHOUSE_URL = ""

    code, lines = lint()

    assert code == 1
    assert lines == [
        "database: WAREHOUSE_URL is not set, so imports cannot reach the warehouse; tables were not checked.",
        "database: import stores: scraper_config.api.token: looks like a credential written into the config; "
        "keep secrets in the environment, not in configs.",
    ]


def test_inactive_imports_are_not_checked_unless_an_active_one_switches_to_them(setup, tmp_path):
    document = exported(tmp_path)
    document["imports"][1].update(is_active=False, staging_table="dw.not_there")
    assert lint_document(tmp_path, document)[:2] == (0, ["1 imports checked, no problems."])

    document["imports"][0]["on_success_deactivate_self_and_activate_import"] = "stores"
    code, lines, _ = lint_document(tmp_path, document)
    assert code == 1
    assert [line.split(": ", 1)[1] for line in lines] == [
        "imports[1] (stores): staging_table: dw.not_there does not exist in the warehouse."
    ]


def test_a_file_with_entries_of_the_wrong_shape_reports_them(setup, tmp_path):
    document = exported(tmp_path)
    document["imports"][0]["colour"] = "blue"
    document["imports"][1]["is_active"] = "yes"
    code, lines, _ = lint_document(tmp_path, document)
    assert code == 1
    assert [line.split(": ", 1)[1] for line in lines] == [
        "imports[0] (sales): colour: unknown field for imports; known: " + ", ".join(document["imports"][1]) + ".",
        "imports[1] (stores): is_active: must be true or false.",
    ]


@pytest.mark.parametrize(
    "first, second, common",
    [
        ("sales_*.csv", "sales_*.csv", "sales_.csv"),
        ("sales_*.csv", "*_2024.csv", "sales_2024.csv"),
        ("sales_*.csv", "stores_*.csv", None),
        ("*.csv", "*.tsv", None),
        ("data?.csv", "data10.csv", None),
        ("data[0-9].csv", "data[!0-4].csv", "data5.csv"),
        ("[a-c]*", "[d-f]*", None),
        ("*", "report.xlsx", "report.xlsx"),
    ],
)
def test_two_file_patterns_overlap_exactly_when_a_name_matches_both(first, second, common):
    assert common_file_name(first, second) == common
    assert common_file_name(second, first) == common
