"""Records of what ran: our side of each Dagster run, and the business logs."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class RunStatus(models.TextChoices):
    QUEUED = "QUEUED", "Queued"
    STARTING = "STARTING", "Starting"
    STARTED = "STARTED", "Running"
    SUCCESS = "SUCCESS", "Succeeded"
    FAILURE = "FAILURE", "Failed"
    CANCELED = "CANCELED", "Canceled"


FINISHED_STATUSES = (RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.CANCELED)


class ImportRun(models.Model):
    """One launched Dagster run, as Launchpad knows it."""

    class Trigger(models.TextChoices):
        DASHBOARD = "dashboard", "Dashboard"
        SENSOR = "sensor", "File sensor"
        SCHEDULE = "schedule", "Schedule"
        API = "api", "API"
        ADMIN = "admin", "Admin"

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.DASHBOARD)
    pipeline_name = models.CharField(max_length=100, db_index=True)
    import_names = models.JSONField(default=list, help_text="The imports this run loads.")
    batch_id = models.UUIDField(null=True, blank=True, db_index=True, help_text="One 'Run selected' click.")
    position = models.PositiveIntegerField(default=0, help_text="Order in the user's selection.")
    dagster_run_id = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error_summary = models.TextField(blank=True, help_text="A short, plain-language error safe to show users.")
    config_versions = models.JSONField(default=dict, help_text="import_name -> config version used by this run.")
    rows_loaded = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{', '.join(self.import_names)} [{self.status}]"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if not self.started_at:
            return None
        from django.utils import timezone

        return ((self.finished_at or timezone.now()) - self.started_at).total_seconds()


class CodeLocationReload(models.Model):
    """Each reload of the Dagster code location after a config change, and how it went."""

    requested_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(null=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        state = "pending" if self.ok is None else ("loaded" if self.ok else "failed")
        return f"reload {self.requested_at:%Y-%m-%d %H:%M:%S} {state}"


class PipelineRunLog(models.Model):
    """The business log of one step of one run: counts, duration, a plain error and a hint."""

    class Step(models.TextChoices):
        EXTRACT_LOAD = "extract_load", "Extract and load to staging"
        TRANSFORM = "transform", "Transform to destination"

    class Status(models.TextChoices):
        SUCCESS = "SUCCESS", "Succeeded"
        FAILURE = "FAILURE", "Failed"

    dagster_run_id = models.CharField(max_length=64, db_index=True)
    pipeline_name = models.CharField(max_length=100, db_index=True)
    import_name = models.CharField(max_length=100, blank=True, db_index=True)
    step = models.CharField(max_length=20, choices=Step.choices)
    status = models.CharField(max_length=10, choices=Status.choices)
    source_files = models.JSONField(default=list, blank=True)
    target_table = models.CharField(max_length=130, blank=True)
    rows_read = models.BigIntegerField(default=0)
    rows_loaded = models.BigIntegerField(default=0)
    rows_rejected = models.BigIntegerField(default=0)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    duration_seconds = models.FloatField(default=0)
    error_message = models.TextField(blank=True, help_text="Plain-language; never a stack trace.")
    resolution_hint = models.TextField(blank=True)
    config_version = models.PositiveIntegerField(null=True, blank=True)
    phase_durations = models.JSONField(
        default=dict, blank=True, help_text="Seconds spent per phase: parse, load, quality, transform."
    )

    PHASES = ("parse", "load", "quality", "transform")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.import_name or self.pipeline_name} {self.step} {self.status}"

    @property
    def phase_summary(self) -> str:
        """``parse 1.2 s · load 3.4 s``, in the phases' natural order."""
        known = [phase for phase in self.PHASES if phase in self.phase_durations]
        others = sorted(set(self.phase_durations) - set(self.PHASES))
        return " · ".join(f"{phase} {self.phase_durations[phase]:.1f} s" for phase in known + others)


class LoadedFile(models.Model):
    """The ledger: every file an import took or skipped, identified by the SHA-256 of its content."""

    class Status(models.TextChoices):
        LOADED = "LOADED", "Loaded"
        SKIPPED = "SKIPPED", "Skipped"
        FAILED = "FAILED", "Failed"

    import_name = models.CharField(max_length=100, db_index=True)
    pipeline_name = models.CharField(max_length=100, blank=True)
    path = models.TextField()
    file_name = models.CharField(max_length=255)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    source = models.CharField(
        max_length=150,
        blank=True,
        help_text="Who or what brought the file: sensor, dashboard:alice, cli:load_file, api.",
    )
    dagster_run_id = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    rows = models.BigIntegerField(null=True, blank=True)
    message = models.TextField(blank=True, help_text="Plain-language, e.g. why the file was skipped.")
    forced = models.BooleanField(default=False, help_text="Loaded again although the same content was loaded before.")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [models.Index(fields=["import_name", "sha256"], name="loadedfile_import_sha256")]

    def __str__(self) -> str:
        return f"{self.import_name}: {self.file_name} [{self.status}]"


class QualityRunLog(models.Model):
    class Outcome(models.TextChoices):
        PASS = "PASS", "Passed"
        WARN = "WARN", "Warning"
        FAIL = "FAIL", "Failed"
        ERROR = "ERROR", "Could not run"

    dagster_run_id = models.CharField(max_length=64, db_index=True)
    rule = models.ForeignKey("pipelines.DataQualityRule", null=True, on_delete=models.SET_NULL)
    rule_name = models.CharField(max_length=100)
    import_name = models.CharField(max_length=100, blank=True, db_index=True)
    target_table = models.CharField(max_length=130)
    check_type = models.CharField(max_length=20, blank=True)
    severity = models.CharField(max_length=4, blank=True)
    rows_checked = models.BigIntegerField(default=0)
    failing_rows = models.BigIntegerField(default=0)
    outcome = models.CharField(max_length=5, choices=Outcome.choices)
    detail = models.TextField(blank=True, help_text="The plain-language result, e.g. '3 of 1,000 rows fail ...'.")
    sample = models.JSONField(default=list, blank=True, help_text="Up to 5 failing rows' key values.")
    checked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-checked_at"]

    def __str__(self) -> str:
        return f"{self.rule_name}: {self.outcome}"


class AnalyticsPrediction(models.Model):
    config = models.ForeignKey("pipelines.AnalyticsConfig", on_delete=models.CASCADE, related_name="predictions")
    dagster_run_id = models.CharField(max_length=64, blank=True)
    period = models.DateField()
    predicted_value = models.FloatField(null=True, blank=True)
    lower_bound = models.FloatField(null=True, blank=True)
    upper_bound = models.FloatField(null=True, blank=True)
    actual_value = models.FloatField(null=True, blank=True)
    is_anomaly = models.BooleanField(default=False)
    anomaly_score = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["config", "period"]
        constraints = [models.UniqueConstraint(fields=["config", "period"], name="one_prediction_per_period")]

    def __str__(self) -> str:
        return f"{self.config} {self.period}"
