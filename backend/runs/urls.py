from django.urls import path

from backend.runs import views

app_name = "runs"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("runs/launch", views.launch, name="launch"),
    path("runs/status.json", views.status_json, name="status"),
    path("runs/history", views.history, name="history"),
    path("check", views.check_file, name="check_file"),
    path("runs/<int:pk>/", views.detail, name="detail"),
    path("runs/<int:pk>/cancel", views.cancel, name="cancel"),
]
