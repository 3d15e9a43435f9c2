"""API representations. Model validation (the same as admin's) runs on every write."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import serializers

from backend.api.errors import django_validation_fields
from backend.pipelines.models import (
    AnalyticsConfig,
    DataEnrichmentRule,
    DataQualityRule,
    PipelineConfig,
    PipelinePermission,
)
from backend.runs.models import CodeLocationReload, ImportRun, PipelineRunLog, QualityRunLog


class ValidatedModelSerializer(serializers.ModelSerializer):
    """Saves through the model, whose ``full_clean`` is the single set of rules; its errors become field errors."""

    def create(self, validated_data):
        with transaction.atomic():
            try:
                return super().create(validated_data)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(django_validation_fields(exc)) from exc

    def update(self, instance, validated_data):
        with transaction.atomic():
            try:
                return super().update(instance, validated_data)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(django_validation_fields(exc)) from exc


class PipelineConfigSerializer(ValidatedModelSerializer):
    depends_on = serializers.SlugRelatedField(
        many=True,
        required=False,
        slug_field="import_name",
        queryset=PipelineConfig.objects.all(),
        help_text="Imports whose data this one needs first (their import names).",
    )
    on_success_deactivate_self_and_activate_import = serializers.SlugRelatedField(
        slug_field="import_name",
        queryset=PipelineConfig.objects.all(),
        required=False,
        allow_null=True,
        help_text="After its first successful run, deactivate this import and activate that one (an import name).",
    )

    class Meta:
        model = PipelineConfig
        exclude = ["created_at"]
        read_only_fields = ["version", "updated_at", "last_import_date", "definition_error"]


class DataQualityRuleSerializer(ValidatedModelSerializer):
    class Meta:
        model = DataQualityRule
        fields = "__all__"
        read_only_fields = ["created_at", "updated_at"]


class DataEnrichmentRuleSerializer(ValidatedModelSerializer):
    class Meta:
        model = DataEnrichmentRule
        fields = "__all__"
        read_only_fields = ["created_at", "updated_at"]


class AnalyticsConfigSerializer(ValidatedModelSerializer):
    alert_webhook_url = serializers.URLField(
        write_only=True,
        required=False,
        allow_blank=True,
        help_text="Where anomaly alerts are posted. Write-only: a webhook URL is a credential.",
    )
    alert_webhook_configured = serializers.SerializerMethodField(help_text="Whether a webhook URL is set.")

    class Meta:
        model = AnalyticsConfig
        fields = "__all__"
        read_only_fields = ["created_at", "updated_at"]

    def get_alert_webhook_configured(self, obj: AnalyticsConfig) -> bool:
        return bool(obj.alert_webhook_url)


class PipelinePermissionSerializer(ValidatedModelSerializer):
    user = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.all(), required=False, allow_null=True
    )
    group = serializers.SlugRelatedField(
        slug_field="name", queryset=Group.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = PipelinePermission
        fields = ["id", "user", "group", "pipeline_name", "can_run"]
        validators = []  # the model's constraints are checked by full_clean, with its messages


class ImportRunSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Who asked for it (empty: a file sensor)."
    )
    is_finished = serializers.BooleanField(read_only=True)

    class Meta:
        model = ImportRun
        fields = [
            "id",
            "pipeline_name",
            "import_names",
            "status",
            "is_finished",
            "trigger",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
            "error_summary",
            "rows_loaded",
            "dagster_run_id",
            "config_versions",
            "batch_id",
        ]
        read_only_fields = fields


class LaunchSerializer(serializers.Serializer):
    imports = serializers.ListField(
        child=serializers.CharField(max_length=100),
        allow_empty=False,
        max_length=200,
        help_text="Import names to run, in order; one run each, as 'Run selected imports' on the dashboard.",
    )


class PipelineRunLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = PipelineRunLog
        fields = "__all__"
        read_only_fields = [f.name for f in PipelineRunLog._meta.fields]


class QualityRunLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = QualityRunLog
        fields = "__all__"
        read_only_fields = [f.name for f in QualityRunLog._meta.fields]


class CodeLocationReloadSerializer(serializers.ModelSerializer):
    class Meta:
        model = CodeLocationReload
        fields = ["requested_at", "finished_at", "ok", "error"]
        read_only_fields = fields


class CodeLocationSerializer(serializers.Serializer):
    reload_pending = serializers.BooleanField(
        allow_null=True,
        help_text="A reload is scheduled after a recent change and has not started (null: the queue is down).",
    )
    last_reload = CodeLocationReloadSerializer(allow_null=True, help_text="The latest reload, finished or not.")
