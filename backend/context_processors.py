"""Template context shared by every page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def launchpad_links(request: HttpRequest) -> dict[str, dict[str, str]]:
    return {"launchpad_links": {"dagster_ui": settings.DAGSTER_UI_URL, "analytics_hub": settings.STREAMLIT_URL}}
