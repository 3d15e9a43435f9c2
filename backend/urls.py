from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from backend.health import healthz

admin.site.site_header = "Launchpad administration"
admin.site.site_title = "Launchpad"
admin.site.index_title = "Pipelines, rules and runs"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
