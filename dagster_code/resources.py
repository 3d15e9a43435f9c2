"""Dagster resources: the warehouse connection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg


class WarehouseResource(dg.ConfigurableResource):
    """Connections to the warehouse database (staging, destination, dims, facts)."""

    url: str

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        with psycopg.connect(self.url, connect_timeout=15, application_name="launchpad-dagster") as conn:
            yield conn
