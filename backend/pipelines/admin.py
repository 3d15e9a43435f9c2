"""Admin for the metadata: declarative lists, filters, fieldsets and change history."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from simple_history.admin import SimpleHistoryAdmin

from backend.pipelines.models import (
    AnalyticsConfig,
    DataEnrichmentRule,
    DataQualityRule,
    PipelineConfig,
    PipelinePermission,
    validate_dependencies,
)


class ColumnMappingField(forms.JSONField):
    """JSON, or the plain 'file column > table column, ...' text; pairs are shown in that text form."""

    def to_python(self, value):
        if isinstance(value, str) and ">" in value and value.strip()[:1] not in ("[", "{", '"'):
            return value.strip()
        return super().to_python(value)

    def prepare_value(self, value):
        if isinstance(value, list) and value and all(isinstance(item, list) and len(item) == 2 for item in value):
            return ", ".join(f"{source} > {target}" for source, target in value)
        return super().prepare_value(value)

    def bound_data(self, data, initial):
        if isinstance(data, str) and ">" in data and data.strip()[:1] not in ("[", "{", '"'):
            return data
        return super().bound_data(data, initial)


class PipelineConfigForm(forms.ModelForm):
    column_mapping = ColumnMappingField(
        required=False, help_text=PipelineConfig._meta.get_field("column_mapping").help_text
    )

    class Meta:
        model = PipelineConfig
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        depends_on = cleaned.get("depends_on")
        if depends_on is not None and self.instance.pk:
            try:
                validate_dependencies(self.instance, list(depends_on))
            except forms.ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    self.add_error(field, messages)
        return cleaned


@admin.register(PipelineConfig)
class PipelineConfigAdmin(SimpleHistoryAdmin):
    form = PipelineConfigForm
    list_display = (
        "import_name",
        "pipeline_name",
        "file_type",
        "load_method",
        "is_active",
        "sensor_enabled",
        "last_import_date",
        "version",
        "definition_status",
    )
    list_filter = ("pipeline_name", "is_active", "file_type", "load_method", "sensor_enabled")
    search_fields = ("import_name", "pipeline_name", "description", "staging_table", "destination_table")
    readonly_fields = ("version", "created_at", "updated_at", "last_import_date", "definition_error")
    filter_horizontal = ("depends_on",)
    fieldsets = (
        ("What it is", {"fields": ("pipeline_name", "import_name", "description", "is_active")}),
        (
            "Where files come from",
            {
                "fields": (
                    "monitored_directory",
                    "file_pattern",
                    "sensor_enabled",
                    "min_file_age_seconds",
                    "batch_window_seconds",
                    "schedule",
                ),
                "description": "Launchpad watches the folder and starts a run for every new or changed matching file.",
            },
        ),
        ("How files are read", {"fields": ("file_type", "parser_function", "scraper_config", "column_mapping")}),
        (
            "Where rows go",
            {
                "fields": (
                    "staging_table",
                    "destination_table",
                    "transform_procedure",
                    "transform_strategy",
                    "load_method",
                    "deduplication_key",
                    "partitioning",
                )
            },
        ),
        ("Order and hand-over", {"fields": ("depends_on", "on_success_deactivate_self_and_activate_import")}),
        ("Status", {"fields": ("version", "created_at", "updated_at", "last_import_date", "definition_error")}),
    )

    actions = ("run_now", "check_a_file", "enable_sensor", "disable_sensor")

    @admin.display(description="orchestrator", boolean=False)
    def definition_status(self, obj: PipelineConfig) -> str:
        return obj.definition_error or "ok"

    def changelist_view(self, request, extra_context=None):
        from backend.runs.models import CodeLocationReload

        last = CodeLocationReload.objects.first()
        if last is not None:
            if last.ok is None:
                text, level = (
                    f"Reloading the orchestrator's code location (asked {last.requested_at:%H:%M:%S}).",
                    "info",
                )
            elif last.ok:
                text, level = (
                    f"Last reload of the code location: loaded at {last.finished_at:%Y-%m-%d %H:%M:%S}.",
                    "info",
                )
            else:
                text, level = f"Last reload of the code location FAILED: {last.error}", "error"
            extra_context = {**(extra_context or {}), "reload_status": {"text": text, "level": level}}
        return super().changelist_view(request, extra_context)

    @admin.action(description="Run now")
    def run_now(self, request, queryset):
        from backend.runs import services

        try:
            runs = services.import_run_launch(request.user, [c.import_name for c in queryset], trigger="admin")
        except services.QueueUnavailable as exc:
            self.message_user(request, str(exc), messages.WARNING)
        except (PermissionDenied, ValueError) as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, f"Started {len(runs)} run(s); follow them on the dashboard.", messages.SUCCESS)

    @admin.action(description="Check a file (pre-flight, changes nothing)")
    def check_a_file(self, request, queryset):
        """The dashboard's "Check a file" page with the import chosen: one import at a time."""
        if queryset.count() != 1:
            self.message_user(request, "Choose one import to check a file against.", messages.WARNING)
            return None
        return redirect(f"{reverse('runs:check_file')}?{urlencode({'import': queryset.get().import_name})}")

    def _set_sensors(self, request, queryset, running: bool) -> None:
        from backend.runs import services
        from backend.runs.dagster_client import OrchestratorError, OrchestratorUnavailable

        done, failed = [], []
        for config in queryset.exclude(monitored_directory=""):
            try:
                services.sensor_set(config, running)
                done.append(config.import_name)
            except (OrchestratorUnavailable, OrchestratorError) as exc:
                failed.append(f"{config.import_name} ({exc.message})")
        if done:
            state = "Now watching the folder" if running else "No longer watching the folder"
            self.message_user(request, f"{state}: {', '.join(done)}.", messages.SUCCESS)
        if failed:
            self.message_user(request, "Not changed in the orchestrator: " + "; ".join(failed), messages.ERROR)

    @admin.action(description="Enable sensor (watch the folder)")
    def enable_sensor(self, request, queryset):
        self._set_sensors(request, queryset, True)

    @admin.action(description="Disable sensor (stop watching the folder)")
    def disable_sensor(self, request, queryset):
        self._set_sensors(request, queryset, False)


@admin.register(DataQualityRule)
class DataQualityRuleAdmin(SimpleHistoryAdmin):
    list_display = ("rule_name", "target_table", "target_column", "check_type", "severity", "is_active")
    list_filter = ("check_type", "severity", "is_active", "target_table")
    search_fields = ("rule_name", "description", "target_table", "target_column")
    fieldsets = (
        (None, {"fields": ("rule_name", "description", "is_active")}),
        ("What is checked", {"fields": ("target_table", "target_column", "check_type", "check_expression")}),
        ("What happens on failure", {"fields": ("severity",)}),
    )
    actions = ("test_on_last_run",)

    @admin.action(description="Test on last run")
    def test_on_last_run(self, request, queryset):
        """Each rule on the rows of the latest load into its table, in a rolled-back transaction."""
        from backend.runs.preflight import quality_rule_try_on_last_run

        for rule in queryset.order_by("rule_name"):
            trial = quality_rule_try_on_last_run(rule)
            if trial.result is None:
                level = messages.WARNING
            elif trial.result.passed:
                level = messages.SUCCESS
            else:
                level = messages.ERROR if trial.result.severity == "FAIL" else messages.WARNING
            self.message_user(request, trial.summary, level)


@admin.register(DataEnrichmentRule)
class DataEnrichmentRuleAdmin(SimpleHistoryAdmin):
    list_display = ("rule_name", "target_staging_table", "target_column_to_enrich", "lookup_table", "is_active")
    list_filter = ("is_active", "target_staging_table")
    search_fields = ("rule_name", "description", "target_staging_table", "lookup_table")
    fieldsets = (
        (None, {"fields": ("rule_name", "description", "is_active")}),
        (
            "Column to fill",
            {"fields": ("target_staging_table", "target_column_to_enrich", "lookup_key_column_staging")},
        ),
        ("Where values come from", {"fields": ("lookup_table", "lookup_key_column_lookup", "lookup_value_column")}),
    )


@admin.register(PipelinePermission)
class PipelinePermissionAdmin(SimpleHistoryAdmin):
    list_display = ("pipeline_name", "user", "group", "can_run")
    list_filter = ("pipeline_name", "can_run", "group")
    search_fields = ("pipeline_name", "user__username", "group__name")
    autocomplete_fields = ("user",)


@admin.register(AnalyticsConfig)
class AnalyticsConfigAdmin(SimpleHistoryAdmin):
    list_display = ("target_table", "value_column", "model_type", "horizon", "is_active")
    list_filter = ("model_type", "is_active")
    search_fields = ("target_table", "value_column", "date_column")
    fieldsets = (
        ("Series", {"fields": ("target_table", "date_column", "value_column")}),
        ("Model", {"fields": ("model_type", "horizon", "is_active")}),
        ("Alerts", {"fields": ("alert_webhook_url",)}),
    )
