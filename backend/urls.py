from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from backend.health import healthz

admin.site.site_header = "Launchpad administration"
admin.site.site_title = "Launchpad"
admin.site.index_title = "Pipelines, rules and runs"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/", include("backend.api.urls")),
    path("", include("backend.runs.urls")),
]
