"""The metadata: what to run. Rows here become Dagster assets, checks and sensors."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from backend.pipelines import validation as v


class ValidatedModel(models.Model):
    """Runs full validation on every save, so the ORM, admin and API share one set of rules."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self.full_clean()
        super().save(*args, **kwargs)


class FileType(models.TextChoices):
    CSV = "csv", "CSV (comma-separated)"
    PSV = "psv", "PSV (pipe-separated)"
    TSV = "tsv", "TSV (tab-separated)"
    EXCEL = "excel", "Excel workbook"
    JSON = "json", "JSON"
    JSONL = "jsonl", "JSON Lines"
    PARQUET = "parquet", "Parquet"
    CUSTOM = "custom", "Custom parser"


class LoadMethod(models.TextChoices):
    REPLACE = "replace", "Replace: empty the destination table, then load"
    APPEND = "append", "Append: add to what is already there"


class TransformStrategy(models.TextChoices):
    INSERT = "insert", "Insert the run's staging rows into the destination"
    UPSERT = "upsert", "Upsert: update rows whose deduplication key exists, insert the others"


class Partitioning(models.TextChoices):
    NONE = "none", "No partitions"
    DAILY = "daily", "Daily"
    MONTHLY = "monthly", "Monthly"


class PipelineConfig(ValidatedModel):
    """One import; rows sharing ``pipeline_name`` form a pipeline group."""

    pipeline_name = models.CharField(
        max_length=100,
        validators=[v.validate_pipeline_name],
        db_index=True,
        help_text="The group this import belongs to. Imports with the same pipeline name are transformed together.",
    )
    import_name = models.CharField(
        max_length=100,
        unique=True,
        validators=[v.validate_import_name],
        help_text="A short unique name for this data source, e.g. daily_sales. It names the Dagster asset.",
    )
    description = models.TextField(blank=True, help_text="What this import brings in, in plain words.")
    is_active = models.BooleanField(
        default=True,
        help_text="Inactive imports are hidden from Dagster and the dashboard. Imports are deactivated, never deleted.",
    )
    file_pattern = models.CharField(
        max_length=255,
        validators=[v.validate_file_pattern],
        help_text="Which file names belong to this import, e.g. sales_*.csv. File names only, no folders.",
    )
    monitored_directory = models.CharField(
        max_length=500,
        blank=True,
        validators=[v.validate_monitored_directory],
        help_text="The full path of the folder where files arrive, e.g. /data/incoming/sales. "
        "Leave empty for imports that fetch their data another way.",
    )
    sensor_enabled = models.BooleanField(
        "watch the folder",
        default=True,
        help_text="Start a run automatically when a matching file lands in the monitored directory.",
    )
    file_type = models.CharField(
        max_length=20, choices=FileType.choices, default=FileType.CSV, help_text="How the file is read."
    )
    parser_function = models.CharField(
        max_length=100,
        blank=True,
        null=True,
        help_text="For custom files: the name of a registered parser. Only registered parsers can run.",
    )
    scraper_config = models.JSONField(
        default=dict,
        blank=True,
        validators=[v.validate_json_object],
        help_text='Options for the parser or source as a JSON object, e.g. {"delimiter": ";", "encoding": "latin-1"}.',
    )
    column_mapping = models.JSONField(
        null=True,
        blank=True,
        validators=[v.validate_column_mapping],
        help_text="Rename file columns to table columns. By position: 'Sale ID > sale_id, Date > sale_date' "
        "(the file's columns in order; a changed header stops the load) or "
        '["sale_id", "sale_date"]. By name: {"Sale ID": "sale_id"}. Leave empty when the header already matches.',
    )
    staging_table = models.CharField(
        max_length=130,
        validators=[v.validate_table_name],
        help_text="The table raw rows are loaded into first, e.g. staging.daily_sales. "
        "It needs a text column dagster_run_id.",
    )
    destination_table = models.CharField(
        max_length=130,
        validators=[v.validate_table_name],
        help_text="The final table the transform writes to, e.g. dw.sales.",
    )
    transform_procedure = models.CharField(
        max_length=130,
        blank=True,
        null=True,
        validators=[v.validate_table_name],
        help_text="A stored procedure called as CALL proc(run_id, tables_to_truncate). "
        "Leave empty to use the built-in transform strategy.",
    )
    transform_strategy = models.CharField(
        max_length=20,
        choices=TransformStrategy.choices,
        default=TransformStrategy.INSERT,
        help_text="Used when no stored procedure is given.",
    )
    load_method = models.CharField(
        max_length=10,
        choices=LoadMethod.choices,
        default=LoadMethod.REPLACE,
        help_text="Replace empties the destination table before loading; append keeps what is there.",
    )
    deduplication_key = models.CharField(
        max_length=500,
        blank=True,
        validators=[v.validate_column_list],
        help_text="For append: columns that identify a row, e.g. sale_id. Rows already in the destination are skipped.",
    )
    depends_on = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="dependents",
        help_text="Imports that must load before this one.",
    )
    on_success_deactivate_self_and_activate_import = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="activated_by",
        verbose_name="after first success, switch to",
        help_text="After this import succeeds once, deactivate it and activate the chosen import "
        "(e.g. a first full replace, then daily appends).",
    )
    min_file_age_seconds = models.PositiveIntegerField(
        default=0,
        help_text="For writers that pause while copying: also wait until a file is at least this many seconds old "
        "before loading it. 0 loads a file once its size and time stamp are unchanged between two sensor checks.",
    )
    batch_window_seconds = models.PositiveIntegerField(
        default=120,
        help_text="Wait this many seconds after the last new file and load the files that arrived together in one "
        "run. 0 starts one run per file.",
    )
    schedule = models.CharField(
        max_length=100,
        blank=True,
        validators=[v.validate_cron],
        help_text="Optional cron schedule with 5 fields, e.g. '0 6 * * 1-5' for 06:00 on weekdays.",
    )
    partitioning = models.CharField(
        max_length=10, choices=Partitioning.choices, default=Partitioning.NONE, help_text="Split loads by day or month."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_import_date = models.DateTimeField(null=True, blank=True, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False, help_text="Goes up by one on every change.")
    definition_error = models.TextField(
        blank=True,
        editable=False,
        help_text="Why the orchestrator could not build this import the last time it loaded (empty when fine).",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["pipeline_name", "import_name"]
        verbose_name = "pipeline import"

    def __str__(self) -> str:
        return f"{self.pipeline_name} / {self.import_name}"

    def clean(self) -> None:
        self.column_mapping = v.normalize_column_mapping(self.column_mapping)
        errors: dict[str, list[str]] = {}
        if self.file_type == FileType.CUSTOM and not self.parser_function:
            errors.setdefault("parser_function", []).append("Custom files need the name of a registered parser.")
        if self.deduplication_key and self.load_method == LoadMethod.REPLACE:
            errors.setdefault("deduplication_key", []).append(
                "A deduplication key only applies to append loads; replace empties the table first."
            )
        if self.transform_strategy == TransformStrategy.UPSERT and not self.transform_procedure:
            if not self.deduplication_key:
                errors.setdefault("deduplication_key", []).append("The upsert strategy needs the key columns.")
        if self.pk and self.on_success_deactivate_self_and_activate_import_id == self.pk:
            errors.setdefault("on_success_deactivate_self_and_activate_import", []).append(
                "An import cannot switch to itself."
            )
        if self.staging_table and self.staging_table == self.destination_table:
            errors.setdefault("destination_table", []).append("The destination must differ from the staging table.")
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        if self.pk:
            self.version = (type(self).objects.filter(pk=self.pk).values_list("version", flat=True).first() or 0) + 1
        super().save(*args, **kwargs)


def validate_dependencies(config: PipelineConfig, depends_on: list[PipelineConfig]) -> None:
    """Refuse a set of dependencies that would form a cycle through ``config``."""
    if config.pk is None:
        return
    if any(dep.pk == config.pk for dep in depends_on):
        raise ValidationError({"depends_on": "An import cannot depend on itself."})
    edges: dict[int, list[int]] = {}
    for src, dst in PipelineConfig.depends_on.through.objects.values_list("from_pipelineconfig", "to_pipelineconfig"):
        edges.setdefault(src, []).append(dst)
    edges[config.pk] = [dep.pk for dep in depends_on]
    cycle = v.find_cycle(config.pk, edges)
    if cycle:
        names = dict(PipelineConfig.objects.filter(pk__in=cycle).values_list("pk", "import_name"))
        chain = " -> ".join(names[pk] for pk in cycle)
        raise ValidationError({"depends_on": f"These dependencies form a cycle: {chain}."})


class CheckType(models.TextChoices):
    NOT_NULL = "NOT_NULL", "Not null"
    UNIQUE = "UNIQUE", "Unique"
    IS_IN_SET = "IS_IN_SET", "Is in set"
    RANGE = "RANGE", "Range"
    REGEX = "REGEX", "Matches pattern"
    ROW_COUNT_MIN = "ROW_COUNT_MIN", "Minimum row count"
    CUSTOM_SQL = "CUSTOM_SQL", "Custom SQL"


class Severity(models.TextChoices):
    FAIL = "FAIL", "Fail: stop the run"
    WARN = "WARN", "Warn: log and continue"


class DataQualityRule(ValidatedModel):
    rule_name = models.CharField(
        max_length=100,
        unique=True,
        validators=[v.validate_rule_name],
        help_text="A short unique name: letters, digits and underscores (it names the check in Dagster).",
    )
    description = models.TextField(blank=True, help_text="What the rule protects against, in plain words.")
    target_table = models.CharField(
        max_length=130, validators=[v.validate_table_name], help_text="The staging table checked, e.g. staging.sales."
    )
    target_column = models.CharField(
        max_length=63,
        blank=True,
        validators=[v.validate_column_name],
        help_text="The column checked (not needed for row counts and custom SQL).",
    )
    check_type = models.CharField(max_length=20, choices=CheckType.choices, help_text="What kind of check to run.")
    check_expression = models.TextField(
        blank=True,
        help_text='Depends on the check: allowed values ["A", "B"] for Is in set; {"min": 0, "max": 100} (numbers or '
        "ISO dates, either bound optional) for Range; a PostgreSQL pattern for Matches pattern; a number for Minimum "
        "row count; for Custom SQL a condition that good rows satisfy, e.g. quantity > 0 AND amount >= quantity * 0.5 "
        "(columns of the table, values, operators and simple functions; no queries); empty for Not null, and "
        'empty or {"against_destination": true} for Unique. Empty values (NULL) fail only Not null.',
    )
    severity = models.CharField(max_length=4, choices=Severity.choices, default=Severity.FAIL)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["target_table", "rule_name"]

    def __str__(self) -> str:
        return self.rule_name

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        try:
            v.validate_check_expression(self.check_type, self.check_expression)
        except ValidationError as exc:
            errors["check_expression"] = exc.messages
        if self.check_type and self.check_type not in v.CHECKS_WITHOUT_COLUMN and not self.target_column:
            errors["target_column"] = ["This check needs a column."]
        if not errors and self.target_table:
            self._check_columns_exist(errors)
        if errors:
            raise ValidationError(errors)

    def _check_columns_exist(self, errors: dict[str, list[str]]) -> None:
        from backend.pipelines.warehouse_schema import missing_columns

        column = [self.target_column] if self.check_type not in v.CHECKS_WITHOUT_COLUMN else []
        if missing_columns(self.target_table, column):
            errors["target_column"] = [f"{self.target_table} has no column {self.target_column}."]
        if self.check_type == CheckType.CUSTOM_SQL:
            unknown = missing_columns(self.target_table, list(v.predicate_columns(self.check_expression)))
            if unknown:
                errors["check_expression"] = [f"{self.target_table} has no column(s) {', '.join(unknown)}."]


class DataEnrichmentRule(ValidatedModel):
    rule_name = models.CharField(
        max_length=100,
        unique=True,
        validators=[v.validate_rule_name],
        help_text="A short unique name: letters, digits and underscores.",
    )
    description = models.TextField(blank=True)
    target_staging_table = models.CharField(
        max_length=130, validators=[v.validate_table_name], help_text="The staging table whose rows get filled in."
    )
    target_column_to_enrich = models.CharField(
        max_length=63, validators=[v.validate_column_name], help_text="The column to fill, e.g. product_category."
    )
    lookup_table = models.CharField(
        max_length=130, validators=[v.validate_table_name], help_text="The table holding the values, e.g. dw.products."
    )
    lookup_key_column_staging = models.CharField(
        max_length=63, validators=[v.validate_column_name], help_text="The key in the staging table, e.g. product_sku."
    )
    lookup_key_column_lookup = models.CharField(
        max_length=63, validators=[v.validate_column_name], help_text="The matching key in the lookup table, e.g. sku."
    )
    lookup_value_column = models.CharField(
        max_length=63, validators=[v.validate_column_name], help_text="The lookup column copied, e.g. category."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["target_staging_table", "rule_name"]

    def __str__(self) -> str:
        return self.rule_name

    def clean(self) -> None:
        from backend.pipelines.warehouse_schema import missing_columns

        errors: dict[str, list[str]] = {}
        for field, table, column in (
            ("target_column_to_enrich", self.target_staging_table, self.target_column_to_enrich),
            ("lookup_key_column_staging", self.target_staging_table, self.lookup_key_column_staging),
            ("lookup_key_column_lookup", self.lookup_table, self.lookup_key_column_lookup),
            ("lookup_value_column", self.lookup_table, self.lookup_value_column),
        ):
            if table and column and missing_columns(table, [column]):
                errors[field] = [f"{table} has no column {column}."]
        if errors:
            raise ValidationError(errors)


class PipelinePermission(ValidatedModel):
    """Grants one user or one group access to a pipeline group. Deny by default; staff see all."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE)
    pipeline_name = models.CharField(max_length=100, validators=[v.validate_pipeline_name])
    can_run = models.BooleanField(default=False, help_text="Without this, the user or group may only look.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["pipeline_name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(group__isnull=True))
                | (Q(user__isnull=True) & Q(group__isnull=False)),
                name="permission_user_xor_group",
            ),
            models.UniqueConstraint(fields=["user", "pipeline_name"], name="unique_user_pipeline"),
            models.UniqueConstraint(fields=["group", "pipeline_name"], name="unique_group_pipeline"),
        ]

    def __str__(self) -> str:
        who = self.user or self.group
        return f"{who} -> {self.pipeline_name} ({'run' if self.can_run else 'view'})"

    def clean(self) -> None:
        if bool(self.user_id) == bool(self.group_id):
            raise ValidationError("Choose either a user or a group (exactly one).")


class ModelType(models.TextChoices):
    FORECAST = "forecast", "Forecast"
    ANOMALY_DETECTION = "anomaly_detection", "Anomaly detection"


class AnalyticsConfig(ValidatedModel):
    target_table = models.CharField(max_length=130, validators=[v.validate_table_name])
    date_column = models.CharField(max_length=63, validators=[v.validate_column_name])
    value_column = models.CharField(max_length=63, validators=[v.validate_column_name])
    model_type = models.CharField(max_length=20, choices=ModelType.choices)
    horizon = models.PositiveIntegerField(default=30, help_text="How many periods ahead to forecast.")
    alert_webhook_url = models.URLField(blank=True, help_text="Where anomaly alerts are posted (optional).")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["target_table", "value_column"]

    def __str__(self) -> str:
        return f"{self.model_type}: {self.target_table}.{self.value_column}"
