"""Errors of the runs app: a plain message users may see, the technical detail kept apart for logs."""

from __future__ import annotations


class LaunchpadError(Exception):
    """Base error. ``message`` is safe to show users; ``detail`` is for logs and admins."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class OrchestratorUnavailable(LaunchpadError):
    """Dagster could not be reached (refused, timed out, or not answering GraphQL). Safe to retry later."""


class OrchestratorError(LaunchpadError):
    """Dagster answered but refused or failed the request (bad selection, config, permission, Python error)."""
