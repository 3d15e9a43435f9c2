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
from backend.pipelines.models import DataQualityRule, PipelineConfig, PipelinePermission

SQL_DIR = Path(__file__).resolve().parent / "sql"
DEMO_USERS = (("admin", "Admin"), ("operator", "Operator"), ("viewer", "Viewer"))


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
    for role, can_run in (("Operator", True), ("Viewer", False)):
        PipelinePermission.objects.get_or_create(
            group=Group.objects.get(name=role), pipeline_name="RetailSales", defaults={"can_run": can_run}
        )
    return [config.import_name] if created else []


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


def seed_demo() -> DemoSummary:
    create_demo_warehouse(settings.WAREHOUSE_URL)
    logins_file = embedded.data_dir(Path(settings.BASE_DIR)) / "demo-logins.txt"
    with transaction.atomic():
        configs = create_demo_pipeline(demo_incoming_dir())
        create_demo_rules()
        logins = create_demo_users(logins_file)
    return DemoSummary(demo_incoming_dir(), tuple(configs), logins, logins_file)
