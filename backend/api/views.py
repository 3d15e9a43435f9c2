"""REST endpoints under /api/. Lists are narrowed by the user's grants in their querysets."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api import filters, permissions, serializers
from backend.api.errors import Conflict, ServiceUnavailable
from backend.pipelines.models import (
    AnalyticsConfig,
    DataEnrichmentRule,
    DataQualityRule,
    PipelineConfig,
    PipelinePermission,
)
from backend.runs import selectors, services
from backend.runs.dagster_client import OrchestratorUnavailable
from backend.runs.models import CodeLocationReload, ImportRun, PipelineRunLog, QualityRunLog

ERRORS = {
    400: OpenApiResponse(description="Invalid input: `error.fields` names each field and what is wrong."),
    401: OpenApiResponse(description="Not logged in and no valid token."),
    403: OpenApiResponse(description="Logged in, but the role or grants do not allow this."),
    404: OpenApiResponse(description="No such object, or not one of the pipelines granted to you."),
}
CONFIG_EXAMPLE = {
    "pipeline_name": "Sales",
    "import_name": "daily_sales",
    "description": "Sales exported every night by the shop system.",
    "file_pattern": "sales_*.csv",
    "monitored_directory": "/data/incoming/sales",
    "file_type": "csv",
    "staging_table": "staging.daily_sales",
    "destination_table": "dw.fact_sales",
    "load_method": "append",
    "deduplication_key": "sale_id",
    "depends_on": [],
}
RULE_EXAMPLE = {
    "rule_name": "sales_amount_not_negative",
    "description": "Refunds come in a separate file; a negative amount here is an export error.",
    "target_table": "staging.daily_sales",
    "target_column": "amount",
    "check_type": "RANGE",
    "check_expression": '{"min": 0}',
    "severity": "FAIL",
}
ENRICHMENT_EXAMPLE = {
    "rule_name": "category_from_products",
    "target_staging_table": "staging.daily_sales",
    "target_column_to_enrich": "product_category",
    "lookup_table": "dw.dim_product",
    "lookup_key_column_staging": "product_sku",
    "lookup_key_column_lookup": "sku",
    "lookup_value_column": "category",
}


def _crud_docs(noun: str, example: dict, serializer: type) -> dict:
    request = OpenApiExample(f"A {noun}", value=example, request_only=True)
    return {
        "list": extend_schema(summary=f"List {noun}s you may see"),
        "retrieve": extend_schema(summary=f"One {noun}", responses={200: serializer, 404: ERRORS[404]}),
        "create": extend_schema(summary=f"Create a {noun}", examples=[request], responses={201: serializer, **ERRORS}),
        "update": extend_schema(summary=f"Replace a {noun}", examples=[request], responses={200: serializer, **ERRORS}),
        "partial_update": extend_schema(
            summary=f"Change some fields of a {noun}",
            examples=[OpenApiExample("Deactivate", value={"is_active": False}, request_only=True)],
            responses={200: serializer, **ERRORS},
        ),
        "destroy": extend_schema(summary=f"Delete a {noun}", responses={204: None, **ERRORS}),
    }


@extend_schema_view(**_crud_docs("pipeline import", CONFIG_EXAMPLE, serializers.PipelineConfigSerializer))
class PipelineConfigViewSet(viewsets.ModelViewSet):
    """Pipeline imports (one row per import; rows sharing pipeline_name form a group)."""

    queryset = PipelineConfig.objects.all()
    serializer_class = serializers.PipelineConfigSerializer
    permission_classes = [permissions.RolePermissions]
    filterset_class = filters.PipelineConfigFilter
    ordering_fields = ["pipeline_name", "import_name", "updated_at"]
    lookup_field = "import_name"

    def get_queryset(self) -> QuerySet[PipelineConfig]:
        configs = PipelineConfig.objects.prefetch_related("depends_on").select_related(
            "on_success_deactivate_self_and_activate_import"
        )
        return configs.filter(pipeline_name__in=permissions.pipelines_visible(self.request.user))

    def perform_create(self, serializer) -> None:
        permissions.require_pipeline(self.request.user, serializer.validated_data["pipeline_name"])
        serializer.save()

    def perform_update(self, serializer) -> None:
        name = serializer.validated_data.get("pipeline_name", serializer.instance.pipeline_name)
        permissions.require_pipeline(self.request.user, name)
        serializer.save()

    def perform_destroy(self, instance: PipelineConfig) -> None:
        if ImportRun.objects.filter(import_names__contains=[instance.import_name]).exists():
            raise Conflict(
                f"{instance.import_name} has runs, so its history is kept: deactivate it "
                '(PATCH {"is_active": false}) instead of deleting it.'
            )
        instance.delete()


class _RuleViewSet(viewsets.ModelViewSet):
    permission_classes = [permissions.RolePermissions]
    table_field = ""
    ordering_fields = ["rule_name", "updated_at"]
    lookup_field = "rule_name"

    def get_queryset(self) -> QuerySet:
        rules = self.queryset.model.objects.all()
        if self.request.user.is_staff:
            return rules
        return rules.filter(**{f"{self.table_field}__in": permissions.staging_tables_visible(self.request.user)})

    def perform_create(self, serializer) -> None:
        permissions.require_staging_table(self.request.user, serializer.validated_data[self.table_field])
        serializer.save()

    def perform_update(self, serializer) -> None:
        table = serializer.validated_data.get(self.table_field, getattr(serializer.instance, self.table_field))
        permissions.require_staging_table(self.request.user, table)
        serializer.save()


@extend_schema_view(**_crud_docs("quality rule", RULE_EXAMPLE, serializers.DataQualityRuleSerializer))
class DataQualityRuleViewSet(_RuleViewSet):
    """Data quality rules, checked on every load of their staging table (FAIL stops the run, WARN logs)."""

    queryset = DataQualityRule.objects.all()
    serializer_class = serializers.DataQualityRuleSerializer
    filterset_class = filters.DataQualityRuleFilter
    table_field = "target_table"


@extend_schema_view(**_crud_docs("enrichment rule", ENRICHMENT_EXAMPLE, serializers.DataEnrichmentRuleSerializer))
class DataEnrichmentRuleViewSet(_RuleViewSet):
    """Enrichment rules: empty values of a staging column filled from a lookup table, before the quality rules."""

    queryset = DataEnrichmentRule.objects.all()
    serializer_class = serializers.DataEnrichmentRuleSerializer
    filterset_class = filters.DataEnrichmentRuleFilter
    table_field = "target_staging_table"


@extend_schema_view(
    **_crud_docs(
        "analytics config",
        {
            "target_table": "dw.fact_sales",
            "date_column": "sale_date",
            "value_column": "amount",
            "model_type": "forecast",
            "horizon": 30,
        },
        serializers.AnalyticsConfigSerializer,
    )
)
class AnalyticsConfigViewSet(viewsets.ModelViewSet):
    """Forecast and anomaly-detection settings for warehouse tables."""

    queryset = AnalyticsConfig.objects.all()
    serializer_class = serializers.AnalyticsConfigSerializer
    permission_classes = [permissions.RolePermissionsToRead]
    filterset_class = filters.AnalyticsConfigFilter
    ordering_fields = ["target_table", "updated_at"]


@extend_schema_view(
    **_crud_docs(
        "access grant",
        {"group": "Operator", "pipeline_name": "Sales", "can_run": True},
        serializers.PipelinePermissionSerializer,
    )
)
class PipelinePermissionViewSet(viewsets.ModelViewSet):
    """Access grants: which user or group may see (and run) which pipeline group. Administrators only."""

    queryset = PipelinePermission.objects.select_related("user", "group").order_by("pipeline_name", "id")
    serializer_class = serializers.PipelinePermissionSerializer
    permission_classes = [permissions.IsAdministrator]
    filterset_fields = ["pipeline_name", "can_run"]


@extend_schema_view(
    list=extend_schema(summary="List runs you may see, newest first"),
    retrieve=extend_schema(summary="One run", responses={200: serializers.ImportRunSerializer, 404: ERRORS[404]}),
)
class ImportRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Import runs: launched here or on the dashboard, or started by a file sensor."""

    serializer_class = serializers.ImportRunSerializer
    filterset_class = filters.ImportRunFilter
    ordering_fields = ["created_at", "finished_at", "status"]

    def get_queryset(self) -> QuerySet[ImportRun]:
        return selectors.import_run_list_visible(self.request.user)

    @extend_schema(
        summary="Run imports",
        description="Queues one run per import, in order, exactly as 'Run selected imports' on the dashboard. "
        "Needs a grant that allows running each import's pipeline. Poll `GET /api/runs/{id}/` for the status.",
        request=serializers.LaunchSerializer,
        examples=[OpenApiExample("Two imports", value={"imports": ["daily_sales", "store_list"]}, request_only=True)],
        responses={
            201: serializers.ImportRunSerializer(many=True),
            **ERRORS,
            503: OpenApiResponse(description="The run queue is down; the runs are kept and start when it is back."),
        },
    )
    def create(self, request: Request) -> Response:
        launch = serializers.LaunchSerializer(data=request.data)
        launch.is_valid(raise_exception=True)
        names = launch.validated_data["imports"]
        try:
            runs = services.import_run_launch(request.user, names, trigger=ImportRun.Trigger.API)
        except ValueError as exc:
            return Response(
                {"error": {"status": 400, "code": "invalid", "message": str(exc), "fields": {"imports": [str(exc)]}}},
                status=status.HTTP_400_BAD_REQUEST,
            )
        except services.QueueUnavailable as exc:
            raise ServiceUnavailable(str(exc)) from exc
        data = serializers.ImportRunSerializer(runs, many=True).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Cancel a run",
        description="A queued run is canceled at once; a running one is asked to stop (the status follows).",
        request=None,
        responses={
            202: serializers.ImportRunSerializer,
            **ERRORS,
            503: OpenApiResponse(description="Dagster is down."),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        try:
            services.import_run_cancel(request.user, run)
        except OrchestratorUnavailable as exc:
            raise ServiceUnavailable(exc.message) from exc
        run.refresh_from_db()
        return Response(serializers.ImportRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(summary="Business log of runs: rows read/loaded/rejected, seconds, plain errors"),
    retrieve=extend_schema(
        summary="One run log entry", responses={200: serializers.PipelineRunLogSerializer, 404: ERRORS[404]}
    ),
)
class PipelineRunLogViewSet(viewsets.ReadOnlyModelViewSet):
    """What each run did, per import and step (read-only)."""

    serializer_class = serializers.PipelineRunLogSerializer
    filterset_class = filters.PipelineRunLogFilter
    ordering_fields = ["started_at", "finished_at"]

    def get_queryset(self) -> QuerySet[PipelineRunLog]:
        logs = PipelineRunLog.objects.filter(pipeline_name__in=permissions.pipelines_visible(self.request.user))
        return logs.order_by("-started_at", "-id")


@extend_schema_view(
    list=extend_schema(summary="Quality rule outcomes of runs: rows checked and failing, sample keys"),
    retrieve=extend_schema(
        summary="One quality log entry", responses={200: serializers.QualityRunLogSerializer, 404: ERRORS[404]}
    ),
)
class QualityRunLogViewSet(viewsets.ReadOnlyModelViewSet):
    """Every evaluation of a quality rule on a run's rows (read-only)."""

    serializer_class = serializers.QualityRunLogSerializer
    filterset_class = filters.QualityRunLogFilter

    def get_queryset(self) -> QuerySet[QualityRunLog]:
        imports = PipelineConfig.objects.filter(
            pipeline_name__in=permissions.pipelines_visible(self.request.user)
        ).values("import_name")
        return QualityRunLog.objects.filter(import_name__in=imports).order_by("-id")


class CodeLocationView(APIView):
    """Whether the orchestrator has picked up the latest configuration changes."""

    @extend_schema(
        summary="Code location status",
        description="A saved change reaches Dagster with a reload a few seconds later. Before running an import "
        "you just created or changed, wait until `reload_pending` is false and `last_reload` finished after "
        "your change with `ok: true` (a failed reload says why in `error`).",
        responses={200: serializers.CodeLocationSerializer, 401: ERRORS[401]},
    )
    def get(self, request: Request) -> Response:
        last = CodeLocationReload.objects.order_by("-requested_at", "-id").first()
        data = {"reload_pending": services.code_location_reload_pending(), "last_reload": last}
        return Response(serializers.CodeLocationSerializer(data).data)
