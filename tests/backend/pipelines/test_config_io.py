"""Configuration as code: export, import and dry run of the pipeline metadata as YAML."""

from __future__ import annotations

import io
from pathlib import Path
from unittest import mock

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from backend.pipelines.demo import create_demo_pipeline, create_demo_rules
from backend.pipelines.models import AnalyticsConfig, DataEnrichmentRule, DataQualityRule, PipelineConfig
from tests.factories import PipelineConfigFactory, demo_region_from_sku_rule

pytestmark = pytest.mark.django_db


def export(*args: str) -> str:
    out = io.StringIO()
    call_command("export_configs", *args, stdout=out)
    return out.getvalue()


def run_import(path: Path, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_configs", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def wipe() -> None:
    PipelineConfig.objects.all().delete()
    DataQualityRule.objects.all().delete()
    DataEnrichmentRule.objects.all().delete()
    AnalyticsConfig.objects.all().delete()


def snapshot() -> dict[str, list[tuple]]:
    return {
        "imports": list(PipelineConfig.objects.values_list("import_name", "file_pattern", "version").order_by("pk")),
        "quality": list(DataQualityRule.objects.values_list("rule_name", "check_expression").order_by("pk")),
        "enrichment": list(DataEnrichmentRule.objects.values_list("rule_name", "lookup_table").order_by("pk")),
        "analytics": list(AnalyticsConfig.objects.values_list("target_table", "horizon").order_by("pk")),
    }


@pytest.fixture
def demo(tmp_path: Path) -> None:
    """The demo seed plus what it lacks: dependencies, a switch, mappings, options, enrichment and analytics."""
    create_demo_pipeline(tmp_path / "incoming")
    create_demo_rules()
    demo_region_from_sku_rule()
    full = PipelineConfigFactory(
        pipeline_name="RetailSales",
        import_name="sales_backfill",
        description="History, once.\nThen the daily import takes over:\n  indented line\n",
        file_pattern="history_*.csv",
        monitored_directory=str(tmp_path / "incoming"),
        load_method="replace",
        column_mapping="Sale ID > sale_id, Date > sale_date",
        scraper_config={"encoding": "latin-1", "delimiter": ";", "null_values": ["NA", "-"]},
        schedule="0 6 * * 1-5",
        transform_procedure="dw.sp_transform_daily_sales",
    )
    daily = PipelineConfig.objects.get(import_name="daily_sales")
    full.on_success_deactivate_self_and_activate_import = daily
    full.save()
    stores = PipelineConfigFactory(pipeline_name="Stores", import_name="stores", file_pattern="stores.csv")
    daily.depends_on.add(stores)
    AnalyticsConfig.objects.create(
        target_table="dw.sales", date_column="sale_date", value_column="amount", model_type="forecast", horizon=14
    )


def test_export_import_into_an_empty_database_and_export_again_gives_the_same_bytes(demo, tmp_path):
    first = export()
    path = tmp_path / "configs.yaml"
    path.write_text(first)
    wipe()

    out, _ = run_import(path)

    assert export() == first
    assert "imports: 3 created, 0 updated, 0 unchanged" in out
    daily = PipelineConfig.objects.get(import_name="daily_sales")
    assert [d.import_name for d in daily.depends_on.all()] == ["stores"]
    backfill = PipelineConfig.objects.get(import_name="sales_backfill")
    assert backfill.on_success_deactivate_self_and_activate_import == daily
    assert backfill.column_mapping == [["Sale ID", "sale_id"], ["Date", "sale_date"]]


def test_export_is_ordered_and_holds_only_fields_people_set(demo):
    document = yaml.safe_load(export())

    assert list(document) == ["version", "imports", "quality_rules", "enrichment_rules", "analytics"]
    assert [i["import_name"] for i in document["imports"]] == ["daily_sales", "sales_backfill", "stores"]
    assert [r["rule_name"] for r in document["quality_rules"]] == [
        "sales_amount_not_negative",
        "sales_id_present",
        "sales_id_unique",
        "sales_quantity_positive",
    ]
    daily = document["imports"][0]
    assert list(daily)[0] == "import_name"
    assert not {"id", "created_at", "updated_at", "version", "last_import_date", "definition_error"} & set(daily)
    assert daily["depends_on"] == ["stores"]
    assert document["imports"][1]["scraper_config"] == {
        "delimiter": ";",
        "encoding": "latin-1",
        "null_values": ["NA", "-"],
    }
    assert "permission" not in export().lower()


def test_export_of_one_pipeline_holds_its_imports_and_the_rules_on_their_tables(demo):
    document = yaml.safe_load(export("--pipeline", "Stores"))
    assert [i["import_name"] for i in document["imports"]] == ["stores"]
    assert document["quality_rules"] == document["enrichment_rules"] == document["analytics"] == []

    document = yaml.safe_load(export("--pipeline", "RetailSales"))
    assert [i["import_name"] for i in document["imports"]] == ["daily_sales", "sales_backfill"]
    assert len(document["quality_rules"]) == 4
    assert [r["rule_name"] for r in document["enrichment_rules"]] == ["region_from_sku"]
    assert [a["value_column"] for a in document["analytics"]] == ["amount"]

    with pytest.raises(CommandError, match="no pipeline named Nope"):
        export("--pipeline", "Nope")


def test_export_to_a_file(demo, tmp_path):
    target = tmp_path / "out.yaml"
    call_command("export_configs", "--output", str(target), stderr=io.StringIO())
    assert target.read_text() == export()


def write(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "configs.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_one_bad_row_writes_nothing_and_names_file_row_and_field(demo, tmp_path):
    document = yaml.safe_load(export())
    document["imports"][0]["file_pattern"] = "changed_*.csv"
    document["imports"][2]["staging_table"] = "staging.stores; DROP TABLE x"
    document["quality_rules"][1]["check_type"] = "RANGE"
    document["quality_rules"][1]["check_expression"] = "not json"
    path = write(tmp_path, document)
    before = snapshot()

    err = io.StringIO()
    with pytest.raises(CommandError, match="2 problem"):
        call_command("import_configs", str(path), stdout=io.StringIO(), stderr=err)

    assert snapshot() == before
    lines = err.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}:")
    assert ": imports[2] (stores): staging_table: 'stores; DROP TABLE x' is not a valid SQL name" in lines[0]
    assert ": quality_rules[1] (sales_id_present): check_expression: " in lines[1]


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"colour": "blue"}, "imports[0] (daily_sales): colour: unknown field for imports"),
        ({"is_active": "yes"}, "imports[0] (daily_sales): is_active: must be true or false."),
        ({"batch_window_seconds": "10"}, "imports[0] (daily_sales): batch_window_seconds: must be a whole number."),
        ({"schedule": "0 6 * * * *"}, "imports[0] (daily_sales): schedule: '0 6 * * * *' is not a cron schedule"),
        ({"depends_on": ["nowhere"]}, "imports[0] (daily_sales): depends_on: nowhere is neither in the file nor"),
        ({"depends_on": ["daily_sales"]}, "imports[0] (daily_sales): depends_on: an import cannot depend on itself."),
        ({"file_type": "xml"}, "imports[0] (daily_sales): file_type: Value 'xml' is not a valid choice."),
        ({"import_name": "Daily Sales"}, "imports[0] (Daily Sales): import_name: 'Daily Sales' is not a valid import"),
    ],
)
def test_each_kind_of_bad_field_is_refused_naming_it(demo, tmp_path, change, expected):
    document = yaml.safe_load(export())
    document["imports"][0].update(change)
    path = write(tmp_path, document)
    err = io.StringIO()
    before = snapshot()

    with pytest.raises(CommandError):
        call_command("import_configs", str(path), stdout=io.StringIO(), stderr=err)

    assert expected in err.getvalue()
    assert snapshot() == before


def test_a_dependency_cycle_across_file_and_database_is_refused(demo, tmp_path):
    document = yaml.safe_load(export("--pipeline", "Stores"))
    document["imports"][0]["depends_on"] = ["daily_sales"]
    path = write(tmp_path, document)
    err = io.StringIO()

    with pytest.raises(CommandError):
        call_command("import_configs", str(path), stdout=io.StringIO(), stderr=err)

    assert "imports[0] (stores): depends_on: these dependencies form a cycle: stores -> daily_sales -> stores." in (
        err.getvalue()
    )
    assert list(PipelineConfig.objects.get(import_name="stores").depends_on.all()) == []


def test_unknown_top_level_keys_duplicate_keys_and_broken_yaml_are_refused(tmp_path):
    path = tmp_path / "c.yaml"
    for text, expected in [
        ("imports: []\npermissions: []\n", f"{path}: permissions: unknown key"),
        (
            "imports:\n  - import_name: a\n    import_name: b\n",
            f"{path}:3: not valid YAML: the key 'import_name' is given",
        ),
        ("imports: [\n", f"{path}:2: not valid YAML"),
        ("imports:\n  - file_pattern: *.csv\n", f"{path}:2: not valid YAML"),
    ]:
        path.write_text(text)
        err = io.StringIO()
        with pytest.raises(CommandError):
            call_command("import_configs", str(path), stdout=io.StringIO(), stderr=err)
        assert err.getvalue().startswith(expected), err.getvalue()


def test_a_hand_written_entry_takes_defaults_and_the_text_mapping_is_stored_as_pairs(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "imports:\n"
        "  - import_name: orders\n"
        "    pipeline_name: Shop\n"
        "    file_pattern: 'orders_*.csv'\n"
        "    staging_table: staging.orders\n"
        "    destination_table: dw.orders\n"
        "    column_mapping: 'Order > order_id'\n"
        "    description:\n"
    )
    run_import(path)
    orders = PipelineConfig.objects.get(import_name="orders")
    assert (orders.load_method, orders.batch_window_seconds, orders.description) == ("replace", 120, "")
    assert orders.column_mapping == [["Order", "order_id"]]


def test_dry_run_shows_the_diff_and_writes_nothing(demo, tmp_path):
    document = yaml.safe_load(export())
    document["imports"][0]["file_pattern"] = "sales_v2_*.csv"
    document["imports"][0]["depends_on"] = []
    document["quality_rules"] = document["quality_rules"][:1]
    document["quality_rules"].append(
        {
            "rule_name": "sales_sku_set",
            "target_table": "staging.daily_sales",
            "target_column": "product_sku",
            "check_type": "NOT_NULL",
        }
    )
    path = write(tmp_path, document)
    before = snapshot()

    out, _ = run_import(path, "--dry-run")

    assert snapshot() == before
    lines = out.splitlines()
    assert lines[:4] == [
        "imports[0] (daily_sales): update",
        '    file_pattern: "sales_*.csv" -> "sales_v2_*.csv"',
        '    depends_on: ["stores"] -> []',
        "imports[1] (sales_backfill): unchanged",
    ]
    assert "quality_rules[1] (sales_sku_set): create" in lines
    assert lines[-1] == (
        "Dry run, nothing written. imports: 0 to create, 1 to update, 2 unchanged; quality rules: 1 to create, "
        "0 to update, 1 unchanged; enrichment rules: 0 to create, 0 to update, 1 unchanged; analytics: 0 to create, "
        "0 to update, 1 unchanged."
    )


def test_an_import_updates_by_name_and_leaves_unchanged_rows_untouched(demo, tmp_path):
    document = yaml.safe_load(export())
    document["imports"][0]["file_pattern"] = "sales_v2_*.csv"
    path = write(tmp_path, document)
    versions = dict(PipelineConfig.objects.values_list("import_name", "version"))

    out, _ = run_import(path)

    assert "imports: 0 created, 1 updated, 2 unchanged" in out
    after = dict(PipelineConfig.objects.values_list("import_name", "version"))
    assert after == {**versions, "daily_sales": versions["daily_sales"] + 1}
    assert PipelineConfig.objects.get(import_name="daily_sales").file_pattern == "sales_v2_*.csv"
    assert PipelineConfig.objects.count() == 3


@pytest.fixture
def reloads(settings):
    """Reloads are requested for real (on commit); the boundary to the task queue is replaced by a recorder."""
    settings.LAUNCHPAD_RELOAD_ON_SAVE = True
    with mock.patch("backend.runs.services._enqueue_reload") as enqueue:
        yield enqueue


def test_an_import_requests_exactly_one_reload(demo, tmp_path, reloads, django_capture_on_commit_callbacks):
    document = yaml.safe_load(export())
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(document))
    wipe()
    with django_capture_on_commit_callbacks(execute=True):
        PipelineConfigFactory(import_name="unrelated")
    assert reloads.call_count == 1, "a plain save asks for a reload (the signal under test is live)"
    reloads.reset_mock()

    with django_capture_on_commit_callbacks(execute=True):
        run_import(path)

    assert reloads.call_count == 1
    assert PipelineConfig.objects.count() == 4


def test_an_import_that_changes_nothing_requests_no_reload(demo, tmp_path, reloads, django_capture_on_commit_callbacks):
    path = tmp_path / "c.yaml"
    path.write_text(export())

    with django_capture_on_commit_callbacks(execute=True):
        out, _ = run_import(path)

    assert reloads.call_count == 0
    assert "imports: 0 created, 0 updated, 3 unchanged" in out
    assert "reload" not in out


def test_saves_after_an_import_request_reloads_again(demo, tmp_path, reloads, django_capture_on_commit_callbacks):
    document = yaml.safe_load(export())
    document["imports"][0]["file_pattern"] = "sales_v2_*.csv"
    path = write(tmp_path, document)
    with django_capture_on_commit_callbacks(execute=True):
        run_import(path)
    reloads.reset_mock()

    with django_capture_on_commit_callbacks(execute=True):
        PipelineConfigFactory(import_name="later")

    assert reloads.call_count == 1
