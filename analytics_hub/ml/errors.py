"""Errors of the analytics engine: ``message`` is plain language for users; ``detail`` is for logs."""

from __future__ import annotations


class AnalyticsError(Exception):
    """Base of every error the analytics engine raises on purpose."""

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
