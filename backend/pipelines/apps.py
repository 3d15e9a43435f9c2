from django.apps import AppConfig


class PipelinesConfig(AppConfig):
    name = "backend.pipelines"
    label = "pipelines"
    verbose_name = "Pipelines"

    def ready(self) -> None:
        from backend.pipelines import signals  # noqa: F401  (connects the receivers)
