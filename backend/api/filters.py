"""Query filters of the list endpoints (django-filter): ``?status=FAILURE&since=2024-01-01`` and so on."""

from __future__ import annotations

import django_filters as df

from backend.pipelines.models import AnalyticsConfig, DataEnrichmentRule, DataQualityRule, PipelineConfig
from backend.runs.models import ImportRun, PipelineRunLog, QualityRunLog


class PipelineConfigFilter(df.FilterSet):
    class Meta:
        model = PipelineConfig
        fields = ["pipeline_name", "import_name", "is_active", "file_type", "load_method", "sensor_enabled"]


class DataQualityRuleFilter(df.FilterSet):
    class Meta:
        model = DataQualityRule
        fields = ["target_table", "target_column", "check_type", "severity", "is_active"]


class DataEnrichmentRuleFilter(df.FilterSet):
    class Meta:
        model = DataEnrichmentRule
        fields = ["target_staging_table", "lookup_table", "is_active"]


class AnalyticsConfigFilter(df.FilterSet):
    class Meta:
        model = AnalyticsConfig
        fields = ["target_table", "model_type", "is_active"]


class ImportRunFilter(df.FilterSet):
    pipeline = df.CharFilter(field_name="pipeline_name", help_text="Runs of this pipeline group.")
    import_name = df.CharFilter(method="_import", label="import", help_text="Runs that loaded this import.")
    user = df.CharFilter(field_name="requested_by__username", help_text="Runs started by this user.")
    since = df.DateFilter(
        field_name="created_at", lookup_expr="date__gte", help_text="Created on or after (YYYY-MM-DD)."
    )
    until = df.DateFilter(
        field_name="created_at", lookup_expr="date__lte", help_text="Created on or before (YYYY-MM-DD)."
    )

    class Meta:
        model = ImportRun
        fields = ["pipeline", "import_name", "status", "user", "trigger", "since", "until", "dagster_run_id"]

    def _import(self, queryset, name, value):
        return queryset.filter(import_names__contains=[value])


class PipelineRunLogFilter(df.FilterSet):
    class Meta:
        model = PipelineRunLog
        fields = ["dagster_run_id", "pipeline_name", "import_name", "step", "status"]


class QualityRunLogFilter(df.FilterSet):
    class Meta:
        model = QualityRunLog
        fields = ["dagster_run_id", "import_name", "rule_name", "outcome", "severity", "check_type"]


# the query parameter is ``import`` (a Python keyword, so it cannot be an attribute name above)
ImportRunFilter.base_filters["import"] = ImportRunFilter.base_filters.pop("import_name")
