"""The admin form shows field errors for invalid configs and saves nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backend.pipelines.models import PipelineConfig
from tests.factories import PipelineConfigFactory

pytestmark = pytest.mark.django_db

VALID = {
    "pipeline_name": "RetailSales",
    "import_name": "daily_sales",
    "description": "",
    "is_active": "on",
    "file_pattern": "sales_*.csv",
    "monitored_directory": "/data/incoming/sales",
    "sensor_enabled": "on",
    "batch_window_seconds": "0",
    "min_file_age_seconds": "0",
    "schedule": "",
    "file_type": "csv",
    "parser_function": "",
    "scraper_config": "{}",
    "column_mapping": "",
    "staging_table": "staging.daily_sales",
    "destination_table": "dw.sales",
    "transform_procedure": "dw.sp_transform_daily_sales",
    "transform_strategy": "insert",
    "load_method": "append",
    "deduplication_key": "",
    "partitioning": "none",
}


@pytest.fixture
def add_url():
    return reverse("admin:pipelines_pipelineconfig_add")


def test_a_valid_config_saves_from_the_admin_form(admin_client, add_url):
    response = admin_client.post(add_url, VALID)
    assert response.status_code == 302
    config = PipelineConfig.objects.get(import_name="daily_sales")
    assert config.staging_table == "staging.daily_sales"
    assert config.history.count() == 1


def test_a_positional_mapping_is_typed_as_text_stored_as_pairs_and_shown_as_text(admin_client, add_url):
    response = admin_client.post(add_url, {**VALID, "column_mapping": "Sale ID > sale_id, Date > sale_date"})
    assert response.status_code == 302
    config = PipelineConfig.objects.get(import_name="daily_sales")
    assert config.column_mapping == [["Sale ID", "sale_id"], ["Date", "sale_date"]]

    page = admin_client.get(reverse("admin:pipelines_pipelineconfig_change", args=[config.pk])).content.decode()
    assert "Sale ID &gt; sale_id, Date &gt; sale_date" in page


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("staging_table", "staging.sales;drop", "is not a valid SQL name"),
        ("destination_table", "a.b.c", "has too many dots"),
        ("file_pattern", "/etc/passwd", "contains a directory part"),
        ("monitored_directory", "incoming/sales", "is not an absolute path"),
        ("scraper_config", "{not json", "Enter a valid JSON"),
        ("scraper_config", "[1, 2]", "Enter a JSON object"),
        ("schedule", "0 6 * * * *", "is not a cron schedule Dagster accepts"),
        ("column_mapping", '{"Sale ID": "sale id"}', "is not a valid SQL name"),
        ("column_mapping", "Sale ID > sale_id, Date", "is not of the form"),
    ],
)
def test_an_invalid_config_shows_a_field_error_and_saves_nothing(admin_client, add_url, field, value, message):
    response = admin_client.post(add_url, {**VALID, field: value})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors
    assert message in " ".join(errors[field])
    assert message.split("'")[0] in response.content.decode().replace("&#x27;", "'")
    assert PipelineConfig.objects.count() == 0


def test_a_dependency_cycle_is_a_field_error_in_the_admin(admin_client):
    first = PipelineConfigFactory(import_name="first")
    second = PipelineConfigFactory(import_name="second")
    second.depends_on.add(first)
    url = reverse("admin:pipelines_pipelineconfig_change", args=[first.pk])
    data = {
        **VALID,
        "import_name": "first",
        "staging_table": "staging.first",
        "destination_table": "dw.first",
        "depends_on": [str(second.pk)],
    }
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "cycle" in " ".join(response.context["adminform"].form.errors["depends_on"])
    assert list(first.depends_on.all()) == []
    first.refresh_from_db()
    assert first.version == 1


def test_the_config_list_shows_why_the_orchestrator_skipped_an_import(admin_client):
    PipelineConfigFactory(import_name="broken_one")
    PipelineConfig.objects.filter(import_name="broken_one").update(definition_error="No parser is registered for 'x'.")
    response = admin_client.get(reverse("admin:pipelines_pipelineconfig_changelist"))
    assert response.status_code == 200
    assert "No parser is registered for" in response.content.decode().replace("&#x27;", "'")


def test_admin_pages_link_to_the_dagster_ui_and_the_analytics_hub(admin_client, settings):
    settings.DAGSTER_UI_URL = "http://dagster.example:3000"
    settings.STREAMLIT_URL = "http://hub.example:8501"
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert 'href="http://dagster.example:3000"' in page
    assert 'href="http://hub.example:8501"' in page
    assert '<div id="site-name"><a href="/admin/">Launchpad</a></div>' in page
