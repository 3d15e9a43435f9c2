from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "backend.runs"
    label = "runs"
    verbose_name = "Runs"

    def ready(self) -> None:
        from backend.runs import signals  # noqa: F401  (connects the receivers)
