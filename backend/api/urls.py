from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from backend.api import views
from backend.api.errors import not_found

app_name = "api"

router = DefaultRouter()
router.register("pipelines", views.PipelineConfigViewSet, basename="pipeline")
router.register("quality-rules", views.DataQualityRuleViewSet, basename="quality-rule")
router.register("enrichment-rules", views.DataEnrichmentRuleViewSet, basename="enrichment-rule")
router.register("analytics-configs", views.AnalyticsConfigViewSet, basename="analytics-config")
router.register("permissions", views.PipelinePermissionViewSet, basename="permission")
router.register("runs", views.ImportRunViewSet, basename="run")
router.register("run-logs", views.PipelineRunLogViewSet, basename="run-log")
router.register("quality-logs", views.QualityRunLogViewSet, basename="quality-log")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("code-location/", views.CodeLocationView.as_view(), name="code-location"),
    path("", include(router.urls)),
    re_path(r"^.*$", not_found),
]
