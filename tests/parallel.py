"""Each process of a parallel test run (pytest-xdist) gets a Redis database of its own.

Loaded as a plugin (``-p tests.parallel``), so it runs before pytest-django reads the settings: by then
``REDIS_URL`` names the worker's database for Django, Celery and every subprocess a test starts (a
Celery worker, a management command). Queues, the orchestrator banner and the reload flag then never
cross between workers. Tests that share one Dagster stack and its Celery worker run in one process
(the ``xdist_group`` the root conftest gives the e2e tests).
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDIS_DATABASES = 16  # Redis's default number of databases


def worker_redis_url(url: str, worker: str) -> str:
    """``url`` moved to the database ``worker`` ("gw<n>") uses: its own number minus n, wrapping at 16.

    Worker gw0 keeps the database it was given; the others count down from it (CI's 15 -> 14, ...).
    """
    number = int(worker.removeprefix("gw"))
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if parts.scheme == "unix" or "db" in query:
        query["db"] = str((int(query.get("db", 0)) - number) % REDIS_DATABASES)
        if parts.scheme == "unix":  # urlunsplit would drop the empty host: "unix:/path"
            return f"unix://{parts.path}?{urlencode(query)}"
        return urlunsplit(parts._replace(query=urlencode(query)))
    database = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(database - number) % REDIS_DATABASES}"))


_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker and os.environ.get("REDIS_URL"):
    os.environ["REDIS_URL"] = worker_redis_url(os.environ["REDIS_URL"], _worker)
