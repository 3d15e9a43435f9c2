"""Small template filters for the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def epoch_time(value: float | None) -> datetime | None:
    """Seconds since the epoch (as Dagster reports them) -> an aware datetime in the site's time zone."""
    if value in (None, ""):
        return None
    return timezone.localtime(datetime.fromtimestamp(float(value), tz=UTC))
