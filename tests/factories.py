"""factory-boy factories for the metadata models."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from backend.pipelines.models import DataEnrichmentRule, DataQualityRule, PipelineConfig, PipelinePermission
from backend.runs.models import LoadedFile


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct-horse-battery")


class PipelineConfigFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PipelineConfig

    pipeline_name = "Sales"
    import_name = factory.Sequence(lambda n: f"import_{n}")
    file_pattern = "sales_*.csv"
    monitored_directory = "/data/incoming/sales"
    file_type = "csv"
    staging_table = factory.LazyAttribute(lambda o: f"staging.{o.import_name}")
    destination_table = factory.LazyAttribute(lambda o: f"dw.{o.import_name}")
    load_method = "append"


class DataQualityRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DataQualityRule

    rule_name = factory.Sequence(lambda n: f"rule_{n}")
    target_table = "staging.sales"
    target_column = "sale_id"
    check_type = "NOT_NULL"
    check_expression = ""


class DataEnrichmentRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DataEnrichmentRule

    rule_name = factory.Sequence(lambda n: f"enrich_{n}")
    target_staging_table = "staging.sales"
    target_column_to_enrich = "product_category"
    lookup_table = "dw.products"
    lookup_key_column_staging = "product_sku"
    lookup_key_column_lookup = "sku"
    lookup_value_column = "category"


class PipelinePermissionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PipelinePermission

    pipeline_name = "Sales"
    can_run = True


class LoadedFileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LoadedFile

    import_name = "daily_sales"
    pipeline_name = "Sales"
    file_name = factory.Sequence(lambda n: f"sales_{n}.csv")
    path = factory.LazyAttribute(lambda o: f"/data/incoming/sales/{o.file_name}")
    size_bytes = 120
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    source = "sensor"
    dagster_run_id = "run-1"
    status = LoadedFile.Status.LOADED
    rows = 3


def demo_region_and_quantity_rules(region_severity: str = "FAIL") -> None:
    """Two rules on the demo staging table: a known region (FAIL by default) and a positive quantity (WARN)."""
    DataQualityRuleFactory(
        rule_name="known_region",
        target_table="staging.daily_sales",
        target_column="region",
        check_type="IS_IN_SET",
        check_expression='["North", "South", "East", "West"]',
        severity=region_severity,
    )
    DataQualityRuleFactory(
        rule_name="quantity_positive",
        target_table="staging.daily_sales",
        target_column="quantity",
        check_type="RANGE",
        check_expression='{"min": 1}',
        severity="WARN",
    )


def demo_region_from_sku_rule() -> DataEnrichmentRule:
    """Fill the demo's empty regions from dw.sku_regions (sku -> region)."""
    return DataEnrichmentRuleFactory(
        rule_name="region_from_sku",
        target_staging_table="staging.daily_sales",
        target_column_to_enrich="region",
        lookup_table="dw.sku_regions",
        lookup_key_column_staging="product_sku",
        lookup_key_column_lookup="sku",
        lookup_value_column="region",
    )
