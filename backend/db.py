"""Database helpers shared by the orchestrator-facing seams (specs and recording)."""

from __future__ import annotations

from django.db import close_old_connections, connection


def drop_stale_connection() -> None:
    """Long-lived orchestrator processes hold idle connections; drop stale ones before using them.

    Never inside an atomic block: that connection belongs to the caller's transaction.
    """
    if not connection.in_atomic_block:
        close_old_connections()
