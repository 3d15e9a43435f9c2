"""The one place the code location sets up Django: specs in, records out."""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
django.setup()

from backend.pipelines.specs import LaunchpadSpecs, load_active_specs, load_analytics_specs  # noqa: E402
from backend.runs import recording  # noqa: E402

__all__ = ["LaunchpadSpecs", "load_active_specs", "load_analytics_specs", "recording"]
