"""Launchpad's Django project: settings, URLs, the Celery app and embedded services."""

from backend.celery import app as celery_app

__all__ = ["celery_app"]
