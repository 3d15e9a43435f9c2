"""The demo: warehouse tables, a RetailSales pipeline watching a folder, and three users."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import psycopg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from backend import embedded
from backend.pipelines.models import AnalyticsConfig, DataQualityRule, PipelineConfig, PipelinePermission

SQL_DIR = Path(__file__).resolve().parent / "sql"
DEMO_USERS = (("admin", "Admin"), ("operator", "Operator"), ("steward", "Steward"), ("viewer", "Viewer"))


@dataclass(frozen=True)
class DemoSummary:
    incoming_dir: Path
    created_configs: tuple[str, ...]
    new_logins: dict[str, str]
    logins_file: Path


def demo_incoming_dir() -> Path:
    return embedded.data_dir(Path(settings.BASE_DIR)) / "incoming" / "sales"


def create_demo_warehouse(warehouse_url: str) -> None:
    """Create the demo staging/destination tables and the transform procedure (idempotent)."""
    script = (SQL_DIR / "demo_retail_sales.sql").read_text()
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(script)


def _password_for(username: str) -> str:
    import os

    return os.environ.get(f"LAUNCHPAD_DEMO_{username.upper()}_PASSWORD") or secrets.token_urlsafe(12)


def create_demo_users(logins_file: Path) -> dict[str, str]:
    """Create the demo users that do not exist yet; return their new passwords."""
    user_model = get_user_model()
    created: dict[str, str] = {}
    for username, role in DEMO_USERS:
        if user_model.objects.filter(username=username).exists():
            continue
        password = _password_for(username)
        user = user_model.objects.create_user(
            username=username, password=password, is_staff=(role == "Admin"), is_superuser=(role == "Admin")
        )
        user.groups.add(Group.objects.get(name=role))
        created[username] = password
    if created:
        logins_file.parent.mkdir(parents=True, exist_ok=True)
        known = logins_file.read_text() if logins_file.exists() else ""
        logins_file.write_text(known + "".join(f"{u} {p}\n" for u, p in created.items()))
        logins_file.chmod(0o600)
    return created


def create_demo_pipeline(incoming: Path) -> list[str]:
    incoming.mkdir(parents=True, exist_ok=True)
    config, created = PipelineConfig.objects.get_or_create(
        import_name="daily_sales",
        defaults={
            "pipeline_name": "RetailSales",
            "description": "One CSV per day of store sales (sale_id, date, region, SKU, quantity, amount).",
            "file_pattern": "sales_*.csv",
            "monitored_directory": str(incoming),
            "file_type": "csv",
            "staging_table": "staging.daily_sales",
            "destination_table": "dw.sales",
            "transform_procedure": "dw.sp_transform_daily_sales",
            "load_method": "append",
            "batch_window_seconds": 0,
        },
    )
    _grant_demo_roles()
    return [config.import_name] if created else []


def _grant_demo_roles() -> None:
    for role, can_run in (("Operator", True), ("Steward", False), ("Viewer", False)):
        PipelinePermission.objects.get_or_create(
            group=Group.objects.get(name=role), pipeline_name="RetailSales", defaults={"can_run": can_run}
        )


# Imports feeding the analytics hub's demo tables (seeded directly, so the hub has data before any run).
DEMO_ANALYTICS_IMPORTS = (
    {
        "import_name": "sales_history",
        "description": "Daily revenue and orders per region and sales channel (one CSV per delivery).",
        "file_pattern": "sales_history_*.csv",
        "staging_table": "staging.sales_history",
        "destination_table": "dw.sales_history",
        "deduplication_key": "sale_date,region,channel",
    },
    {
        "import_name": "products",
        "description": "The product catalogue: SKU, name, category, description and unit price.",
        "file_pattern": "products_*.csv",
        "staging_table": "staging.products",
        "destination_table": "dw.products",
        "deduplication_key": "sku",
    },
)
DEMO_ANALYTICS_CONFIGS = (
    ("dw.sales_history", "sale_date", "revenue", "forecast", 60),
    ("dw.sales_history", "sale_date", "revenue", "anomaly_detection", 30),
    ("dw.sales_history", "sale_date", "orders", "forecast", 30),
)


def create_demo_analytics(warehouse_url: str, incoming_root: Path) -> list[str]:
    """Two years of daily sales and a product catalogue in the warehouse, their imports and analytics settings."""
    script = (SQL_DIR / "demo_analytics.sql").read_text()
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(script)
    created = []
    for values in DEMO_ANALYTICS_IMPORTS:
        folder = incoming_root / values["import_name"]
        folder.mkdir(parents=True, exist_ok=True)
        _, new = PipelineConfig.objects.get_or_create(
            import_name=values["import_name"],
            defaults={
                **values,
                "pipeline_name": "RetailSales",
                "monitored_directory": str(folder),
                "file_type": "csv",
                "transform_strategy": "upsert",
                "load_method": "append",
                "batch_window_seconds": 0,
            },
        )
        if new:
            created.append(values["import_name"])
    _grant_demo_roles()
    for table, date_column, value_column, model_type, horizon in DEMO_ANALYTICS_CONFIGS:
        AnalyticsConfig.objects.get_or_create(
            target_table=table,
            date_column=date_column,
            value_column=value_column,
            model_type=model_type,
            defaults={"horizon": horizon},
        )
    return created


DEMO_RULES = (
    ("sales_id_present", "sale_id", "NOT_NULL", "", "FAIL", "Every sale needs its id."),
    ("sales_id_unique", "sale_id", "UNIQUE", "", "FAIL", "A file must not list the same sale twice."),
    ("sales_amount_not_negative", "amount", "RANGE", '{"min": 0}', "FAIL", "Refunds come in another file."),
    ("sales_quantity_positive", "quantity", "RANGE", '{"min": 1}', "WARN", "A zero quantity is unusual."),
)


def create_demo_rules() -> list[str]:
    """Quality rules on the demo staging table (shown as asset checks in Dagster); returns the new ones."""
    created = []
    for name, column, check_type, expression, severity, description in DEMO_RULES:
        _, new = DataQualityRule.objects.get_or_create(
            rule_name=name,
            defaults={
                "description": description,
                "target_table": "staging.daily_sales",
                "target_column": column,
                "check_type": check_type,
                "check_expression": expression,
                "severity": severity,
            },
        )
        if new:
            created.append(name)
    return created


def create_hub_reader(warehouse_url: str, schemas: list[str]) -> None:
    """The analytics hub's read-only database role, allowed to read ``schemas`` (the hub widens it as needed)."""
    from analytics_hub.ml.reader_role import ensure_reader_role
    from analytics_hub.ml.secrets import resolve_secret

    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        ensure_reader_role(
            conn,
            role=settings.LAUNCHPAD_HUB_READER_ROLE,
            schemas=schemas,
            password=resolve_secret("LAUNCHPAD_HUB_READER_PASSWORD"),
        )


def seed_demo() -> DemoSummary:
    create_demo_warehouse(settings.WAREHOUSE_URL)
    logins_file = embedded.data_dir(Path(settings.BASE_DIR)) / "demo-logins.txt"
    with transaction.atomic():
        configs = create_demo_pipeline(demo_incoming_dir())
        create_demo_rules()
        configs += create_demo_analytics(settings.WAREHOUSE_URL, demo_incoming_dir().parent)
        logins = create_demo_users(logins_file)
    create_hub_reader(settings.WAREHOUSE_URL, ["staging", "dw"])
    return DemoSummary(demo_incoming_dir(), tuple(configs), logins, logins_file)
