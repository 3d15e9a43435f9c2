"""Saving metadata: invalid rows are refused whichever way they are saved, and changes are kept."""

from __future__ import annotations

import psycopg
import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction

from backend.pipelines.models import DataEnrichmentRule, DataQualityRule, PipelineConfig, PipelinePermission
from tests.factories import DataEnrichmentRuleFactory, DataQualityRuleFactory, PipelineConfigFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_saving_an_invalid_config_through_the_orm_is_refused_and_nothing_is_written():
    with pytest.raises(ValidationError) as err:
        PipelineConfigFactory(staging_table="staging.sales; DROP TABLE x", file_pattern="in/*.csv")
    assert set(err.value.message_dict) >= {"staging_table", "file_pattern"}
    assert PipelineConfig.objects.count() == 0


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"monitored_directory": "relative/dir"}, "monitored_directory"),
        ({"schedule": "0 6 * * * *"}, "schedule"),
        ({"scraper_config": ["not", "an", "object"]}, "scraper_config"),
        ({"column_mapping": "sale_id"}, "column_mapping"),
        ({"import_name": "Daily Sales"}, "import_name"),
        ({"pipeline_name": "retail sales"}, "pipeline_name"),
        ({"file_type": "custom", "parser_function": None}, "parser_function"),
        ({"load_method": "replace", "deduplication_key": "sale_id"}, "deduplication_key"),
        ({"staging_table": "dw.x", "destination_table": "dw.x"}, "destination_table"),
        ({"transform_procedure": "dw.sp-load"}, "transform_procedure"),
    ],
)
def test_each_config_rule_names_its_field(fields, field):
    with pytest.raises(ValidationError) as err:
        PipelineConfigFactory(**fields)
    assert field in err.value.message_dict


def test_every_change_bumps_the_version_and_is_kept_in_history():
    config = PipelineConfigFactory(description="first")
    assert config.version == 1
    config.description = "second"
    config.save()
    config.refresh_from_db()
    assert config.version == 2
    assert [h.description for h in config.history.order_by("history_date")] == ["first", "second"]
    assert [h.version for h in config.history.order_by("history_date")] == [1, 2]


def test_an_import_cannot_switch_to_itself():
    config = PipelineConfigFactory()
    config.on_success_deactivate_self_and_activate_import = config
    with pytest.raises(ValidationError) as err:
        config.save()
    assert "on_success_deactivate_self_and_activate_import" in err.value.message_dict


def test_dependency_cycles_are_refused_and_the_graph_is_unchanged():
    a, b, c = (
        PipelineConfigFactory(import_name="a"),
        PipelineConfigFactory(import_name="b"),
        PipelineConfigFactory(import_name="c"),
    )
    b.depends_on.add(a)
    c.depends_on.add(b)
    with pytest.raises(ValidationError, match="a -> c -> b -> a"), transaction.atomic():
        a.depends_on.add(c)
    assert list(a.depends_on.all()) == []
    with pytest.raises(ValidationError, match="cannot depend on itself"), transaction.atomic():
        a.depends_on.add(a)
    with pytest.raises(ValidationError, match="cycle"), transaction.atomic():
        c.dependents.add(a)  # from the other side: a would depend on c
    assert list(a.depends_on.all()) == []


def test_quality_rule_expression_is_checked_against_its_type():
    with pytest.raises(ValidationError) as err:
        DataQualityRuleFactory(check_type="RANGE", check_expression='{"min": 10, "max": 1}')
    assert err.value.message_dict["check_expression"] == ["'min' is greater than 'max'."]
    with pytest.raises(ValidationError) as err:
        DataQualityRuleFactory(check_type="IS_IN_SET", target_column="", check_expression='["a"]')
    assert "target_column" in err.value.message_dict
    rule = DataQualityRuleFactory(check_type="ROW_COUNT_MIN", target_column="", check_expression="1")
    assert rule.pk


def test_a_permission_grants_exactly_one_user_or_group():
    user = UserFactory()
    with pytest.raises(ValidationError, match="exactly one"):
        PipelinePermission.objects.create(pipeline_name="Sales", user=user, group=Group.objects.get(name="Viewer"))
    with pytest.raises(ValidationError, match="exactly one"):
        PipelinePermission.objects.create(pipeline_name="Sales")
    assert PipelinePermission.objects.count() == 0
    assert PipelinePermission.objects.create(pipeline_name="Sales", user=user).pk


def test_the_four_roles_exist_with_their_permissions():
    roles = {g.name: set(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()}
    assert {"Viewer", "Operator", "Steward", "Admin"} <= set(roles)
    assert "change_pipelineconfig" not in roles["Viewer"] | roles["Operator"] | roles["Steward"]
    assert "change_dataqualityrule" in roles["Steward"]
    assert {"add_pipelineconfig", "change_pipelineconfig", "delete_pipelinepermission"} <= roles["Admin"]


def test_the_upsert_strategy_needs_a_deduplication_key():
    with pytest.raises(ValidationError) as err:
        PipelineConfigFactory(transform_strategy="upsert", load_method="append", deduplication_key="")
    assert err.value.message_dict["deduplication_key"] == ["The upsert strategy needs the key columns."]
    assert PipelineConfigFactory(transform_strategy="upsert", load_method="append", deduplication_key="id").pk


INJECTION = "'; DROP TABLE x; --"


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"rule_name": INJECTION}, "rule_name"),
        ({"target_table": INJECTION}, "target_table"),
        ({"target_column": INJECTION}, "target_column"),
        ({"target_column": 'amount" > 0; DROP TABLE x; --'}, "target_column"),
        ({"check_type": "NOT_NULL", "check_expression": INJECTION}, "check_expression"),
        ({"check_type": "UNIQUE", "check_expression": INJECTION}, "check_expression"),
        ({"check_type": "IS_IN_SET", "check_expression": INJECTION}, "check_expression"),
        ({"check_type": "RANGE", "check_expression": INJECTION}, "check_expression"),
        ({"check_type": "ROW_COUNT_MIN", "check_expression": INJECTION}, "check_expression"),
        ({"check_type": "CUSTOM_SQL", "check_expression": INJECTION}, "check_expression"),
        ({"check_type": "CUSTOM_SQL", "check_expression": "amount > 0; DROP TABLE x; --"}, "check_expression"),
        (
            {"check_type": "CUSTOM_SQL", "check_expression": "amount > (SELECT max(amount) FROM dw.sales)"},
            "check_expression",
        ),
        (
            {"check_type": "CUSTOM_SQL", "check_expression": "sale_id IN (SELECT sale_id FROM dw.sales)"},
            "check_expression",
        ),
        ({"check_type": "CUSTOM_SQL", "check_expression": '"amount"" > 0 OR ""x" > 0'}, "check_expression"),
        ({"check_type": "CUSTOM_SQL", "check_expression": "pg_sleep(10) IS NULL"}, "check_expression"),
        ({"check_type": "CUSTOM_SQL", "check_expression": "amount > 0 -- and more"}, "check_expression"),
        ({"check_type": "CUSTOM_SQL", "check_expression": "dw.sales.amount > 0"}, "check_expression"),
    ],
)
def test_injection_through_a_quality_rule_field_is_refused_at_save_and_nothing_is_written(fields, field):
    with pytest.raises(ValidationError) as err:
        DataQualityRuleFactory(**fields)
    assert field in err.value.message_dict
    assert DataQualityRule.objects.count() == 0


def test_a_regex_rule_keeps_injection_text_as_a_pattern_only():
    """A pattern is data (sent as a parameter to ``~``), so any valid pattern is accepted verbatim."""
    rule = DataQualityRuleFactory(check_type="REGEX", check_expression=INJECTION)
    assert DataQualityRule.objects.get(pk=rule.pk).check_expression == INJECTION


def test_a_custom_sql_rule_is_a_condition_that_good_rows_satisfy():
    rule = DataQualityRuleFactory(
        check_type="CUSTOM_SQL", target_column="", check_expression="quantity > 0 AND amount >= quantity * 0.5"
    )
    assert rule.pk
    with pytest.raises(ValidationError) as err:
        DataQualityRuleFactory(check_type="CUSTOM_SQL", check_expression="SELECT * FROM staging.sales WHERE amount < 0")
    assert err.value.message_dict["check_expression"] == [
        "Enter a condition over one row, not a statement: e.g. quantity > 0 AND amount >= quantity * 0.5."
    ]


@pytest.mark.parametrize(
    "field",
    [
        "rule_name",
        "target_staging_table",
        "target_column_to_enrich",
        "lookup_table",
        "lookup_key_column_staging",
        "lookup_key_column_lookup",
        "lookup_value_column",
    ],
)
def test_injection_through_an_enrichment_rule_field_is_refused_at_save_and_nothing_is_written(field):
    with pytest.raises(ValidationError) as err:
        DataEnrichmentRuleFactory(**{field: INJECTION})
    assert field in err.value.message_dict
    assert DataEnrichmentRule.objects.count() == 0
    assert DataEnrichmentRuleFactory().pk


@pytest.fixture
def sales_table(settings, warehouse_url: str, warehouse_schema: str) -> str:
    """A warehouse table the rules can point at; the Django settings see this warehouse."""
    settings.WAREHOUSE_URL = warehouse_url
    table = f"{warehouse_schema}.sales"
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (sale_id integer, amount numeric, sku text)")
        conn.execute(f"CREATE TABLE {warehouse_schema}.products (sku text, category text)")
    return table


def test_a_rule_on_a_column_the_table_lacks_is_refused_naming_it(sales_table):
    with pytest.raises(ValidationError) as err:
        DataQualityRuleFactory(target_table=sales_table, target_column="amount_eur", check_type="NOT_NULL")
    assert err.value.message_dict["target_column"] == [f"{sales_table} has no column amount_eur."]

    with pytest.raises(ValidationError) as err:
        DataQualityRuleFactory(
            target_table=sales_table,
            target_column="",
            check_type="CUSTOM_SQL",
            check_expression="amount > 0 AND discount < amount",
        )
    assert err.value.message_dict["check_expression"] == [f"{sales_table} has no column(s) discount."]

    DataQualityRuleFactory(
        target_table=sales_table, target_column="", check_type="CUSTOM_SQL", check_expression="amount > 0"
    )


def test_a_rule_on_a_table_not_created_yet_is_accepted(settings, warehouse_url):
    settings.WAREHOUSE_URL = warehouse_url
    DataQualityRuleFactory(target_table="staging.not_there_yet", target_column="anything", check_type="NOT_NULL")


def test_an_enrichment_rule_names_each_missing_column(sales_table, warehouse_schema):
    with pytest.raises(ValidationError) as err:
        DataEnrichmentRule.objects.create(
            rule_name="category_from_sku",
            target_staging_table=sales_table,
            target_column_to_enrich="category",
            lookup_table=f"{warehouse_schema}.products",
            lookup_key_column_staging="sku",
            lookup_key_column_lookup="product_sku",
            lookup_value_column="category",
        )
    assert err.value.message_dict == {
        "target_column_to_enrich": [f"{sales_table} has no column category."],
        "lookup_key_column_lookup": [f"{warehouse_schema}.products has no column product_sku."],
    }
