"""Planner settings for the length of one block of a transaction."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import psycopg

# Large scans that evaluate many expressions once: compiling them with JIT costs more than it saves.
NO_JIT = {"jit": "off"}


@contextmanager
def local_settings(conn: psycopg.Connection, settings: Mapping[str, str]) -> Iterator[None]:
    """Apply ``settings`` inside the current transaction block, then put the previous values back.

    Call it inside ``conn.transaction()``: the settings are transaction-local, so an error that rolls
    the block back also undoes them.
    """
    names, values = list(settings), list(settings.values())
    (previous,) = conn.execute(
        "SELECT array_agg(current_setting(n) ORDER BY i) FROM unnest(%s::text[]) WITH ORDINALITY AS s(n, i)", (names,)
    ).fetchone()
    conn.execute("SELECT set_config(n, v, true) FROM unnest(%s::text[], %s::text[]) AS s(n, v)", (names, values))
    yield
    conn.execute("SELECT set_config(n, v, true) FROM unnest(%s::text[], %s::text[]) AS s(n, v)", (names, previous))
