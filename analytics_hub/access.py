"""Who is using the hub and what they may touch: Django users and groups, pipeline grants -> warehouse tables.

The one module of the hub that sets up Django (once, at import), the way the code location's bridge does.
Viewers (and Operators) read, Stewards also edit data, Admins also change analytics settings. The tables a
user may query are the staging and destination tables of the pipelines granted to them; Admins (staff) may
query every table in the hub's schemas.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import authenticate, get_user_model  # noqa: E402
from django.core.exceptions import ValidationError  # noqa: E402
from django.db import connections  # noqa: E402

from backend.pipelines.models import AnalyticsConfig, PipelineConfig  # noqa: E402
from backend.runs.selectors import pipeline_access  # noqa: E402

VIEWER, STEWARD, ADMIN = "viewer", "steward", "admin"
ROLE_LABELS = {VIEWER: "Viewer", STEWARD: "Steward", ADMIN: "Admin"}
_RANK = {VIEWER: 0, STEWARD: 1, ADMIN: 2}


@contextmanager
def _orm() -> Iterator[None]:
    """Database work from a Streamlit script thread: that thread's connections are closed afterwards (a thread
    per run would otherwise leave one open connection behind each)."""
    try:
        yield
    finally:
        connections.close_all()


@dataclass(frozen=True)
class HubUser:
    """A signed-in user as the hub sees them; ``tables`` are qualified ``schema.table`` names."""

    username: str
    role: str
    tables: frozenset[str]
    schemas: frozenset[str]
    every_table: bool = False

    @property
    def can_edit_data(self) -> bool:
        return _RANK[self.role] >= _RANK[STEWARD]

    @property
    def can_change_settings(self) -> bool:
        return self.role == ADMIN

    def at_least(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]

    @property
    def allowed_tables(self) -> frozenset[str] | None:
        """For the SQL gate: None means every table of :attr:`schemas`."""
        return None if self.every_table else self.tables

    def may_query(self, table: str) -> bool:
        schema = table.split(".", 1)[0]
        return schema in self.schemas if self.every_table else table in self.tables


def sign_in(username: str, password: str) -> HubUser | None:
    """The hub user for these credentials, or None when they are wrong or the account is inactive."""
    with _orm():
        user = authenticate(username=username, password=password)
        return hub_user(user) if user is not None and user.is_active else None


def refresh(username: str) -> HubUser | None:
    """The user's current rights (grants may have changed since sign-in); None if the account is gone or inactive."""
    with _orm():
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        return hub_user(user) if user is not None else None


def hub_user(user) -> HubUser:
    role = _role_of(user)
    if user.is_staff:
        schemas = hub_schemas()
        return HubUser(user.username, role, frozenset(), frozenset(schemas), every_table=True)
    granted = pipeline_access(user)
    configs = PipelineConfig.objects.filter(pipeline_name__in=list(granted))
    tables = set(_qualified(configs.values_list("staging_table", flat=True)))
    tables |= set(_qualified(configs.values_list("destination_table", flat=True)))
    return HubUser(user.username, role, frozenset(tables), frozenset(t.split(".", 1)[0] for t in tables))


def hub_schemas() -> list[str]:
    """Schemas the hub's read-only role may read: those of every pipeline and analytics table, plus extras."""
    names: set[str] = set()
    with _orm():
        for field in ("staging_table", "destination_table"):
            names |= set(_qualified(PipelineConfig.objects.values_list(field, flat=True)))
        names |= set(_qualified(AnalyticsConfig.objects.values_list("target_table", flat=True)))
    schemas = {name.split(".", 1)[0] for name in names}
    extra = getattr(settings, "LAUNCHPAD_HUB_EXTRA_SCHEMAS", [])
    return sorted(schemas | {s for s in extra if s})


def _qualified(names: Iterable[str | None]) -> list[str]:
    """Table names as ``schema.table`` (unqualified ones live in ``public``)."""
    return [name if "." in name else f"public.{name}" for name in names if name]


def _role_of(user) -> str:
    if user.is_superuser or user.is_staff:
        return ADMIN
    groups = set(user.groups.values_list("name", flat=True))
    if "Admin" in groups:
        return ADMIN
    if "Steward" in groups:
        return STEWARD
    return VIEWER


@dataclass(frozen=True)
class AnalyticsSetting:
    """One AnalyticsConfig row as the hub shows it (the alert address is write-only: never shown)."""

    pk: int
    target_table: str
    date_column: str
    value_column: str
    model_type: str
    horizon: int
    has_alert: bool
    is_active: bool

    @property
    def label(self) -> str:
        return f"{self.target_table}: {self.value_column} by {self.date_column}"


def analytics_settings(
    user: HubUser, *, model_type: str | None = None, active_only: bool = True
) -> list[AnalyticsSetting]:
    """The analytics configs on tables ``user`` may query, by table and column."""
    with _orm():
        configs = AnalyticsConfig.objects.all()
        if model_type is not None:
            configs = configs.filter(model_type=model_type)
        if active_only:
            configs = configs.filter(is_active=True)
        found = [_setting(c) for c in configs]
    return [s for s in found if user.may_query(s.target_table)]


def _setting(config: AnalyticsConfig) -> AnalyticsSetting:
    return AnalyticsSetting(
        pk=config.pk,
        target_table=_qualified([config.target_table])[0],
        date_column=config.date_column,
        value_column=config.value_column,
        model_type=config.model_type,
        horizon=config.horizon,
        has_alert=bool(config.alert_webhook_url),
        is_active=config.is_active,
    )


class SettingRejected(Exception):
    """A settings change the model refused; ``message`` lists each field's problem in plain words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


SETTING_FIELDS = (
    "target_table",
    "date_column",
    "value_column",
    "model_type",
    "horizon",
    "alert_webhook_url",
    "is_active",
)


def save_analytics_setting(user: HubUser, values: dict, *, pk: int | None = None) -> AnalyticsSetting:
    """Create (``pk`` None) or change one AnalyticsConfig as ``user`` (Admins only), kept in its history.

    An empty ``alert_webhook_url`` on a change keeps the stored one (the address is never shown, so the form
    cannot send it back); ``clear_alert=True`` in ``values`` removes it.
    """
    with _orm():
        account = get_user_model().objects.filter(username=user.username, is_active=True).first()
        if account is None or hub_user(account).role != ADMIN:
            raise SettingRejected("Only Admins may change analytics settings.")
        config = AnalyticsConfig() if pk is None else AnalyticsConfig.objects.filter(pk=pk).first()
        if config is None:
            raise SettingRejected("That analytics setting no longer exists; reload the page.")
        for field in SETTING_FIELDS:
            keep_stored = field == "alert_webhook_url" and pk is not None and not values.get(field)
            if field in values and not keep_stored:
                setattr(config, field, values[field])
        if values.get("clear_alert"):
            config.alert_webhook_url = ""
        config._history_user = account
        try:
            config.save()
        except ValidationError as exc:
            problems = [f"{name.replace('_', ' ')}: {' '.join(msgs)}" for name, msgs in exc.message_dict.items()]
            raise SettingRejected("; ".join(problems)) from exc
        return _setting(config)
