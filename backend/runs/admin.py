"""Read-only admin views of what ran."""

from __future__ import annotations

from django.contrib import admin

from backend.runs.models import AnalyticsPrediction, ImportRun, LoadedFile, PipelineRunLog, QualityRunLog


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ImportRun)
class ImportRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "pipeline_name", "import_list", "status", "trigger", "requested_by", "created_at")
    list_filter = ("status", "trigger", "pipeline_name")
    search_fields = ("dagster_run_id", "pipeline_name", "requested_by__username")
    date_hierarchy = "created_at"

    @admin.display(description="imports")
    def import_list(self, obj: ImportRun) -> str:
        return ", ".join(obj.import_names)


@admin.register(PipelineRunLog)
class PipelineRunLogAdmin(ReadOnlyAdmin):
    list_display = (
        "started_at",
        "pipeline_name",
        "import_name",
        "step",
        "status",
        "rows_read",
        "rows_loaded",
        "rows_rejected",
        "duration_seconds",
        "phases",
    )
    list_filter = ("status", "step", "pipeline_name")
    search_fields = ("dagster_run_id", "import_name", "pipeline_name", "error_message")
    date_hierarchy = "started_at"

    @admin.display(description="phases")
    def phases(self, obj: PipelineRunLog) -> str:
        return obj.phase_summary


@admin.register(LoadedFile)
class LoadedFileAdmin(ReadOnlyAdmin):
    list_display = (
        "recorded_at",
        "import_name",
        "file_name",
        "status",
        "rows",
        "size_bytes",
        "source",
        "forced",
        "short_sha256",
        "dagster_run_id",
    )
    list_filter = ("status", "import_name", "forced")
    search_fields = ("file_name", "^sha256", "dagster_run_id")
    date_hierarchy = "recorded_at"

    @admin.display(description="SHA-256", ordering="sha256")
    def short_sha256(self, obj: LoadedFile) -> str:
        return obj.sha256[:12]


@admin.register(QualityRunLog)
class QualityRunLogAdmin(ReadOnlyAdmin):
    list_display = ("checked_at", "rule_name", "target_table", "outcome", "failing_rows")
    list_filter = ("outcome", "target_table")
    search_fields = ("rule_name", "dagster_run_id")


@admin.register(AnalyticsPrediction)
class AnalyticsPredictionAdmin(ReadOnlyAdmin):
    list_display = ("config", "period", "predicted_value", "actual_value", "is_anomaly")
    list_filter = ("is_anomaly", "config")
