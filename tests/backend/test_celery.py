"""The Celery app reaches its broker and result backend (embedded Redis socket or REDIS_URL)."""

from __future__ import annotations

import uuid

import pytest

from backend.celery import app

pytestmark = pytest.mark.integration


def test_broker_accepts_a_connection_and_a_message_round_trip():
    queue_name = f"launchpad-test-{uuid.uuid4().hex[:8]}"
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=5)
        queue = conn.SimpleQueue(queue_name)
        try:
            queue.put({"hello": "launchpad"})
            message = queue.get(timeout=5)
            message.ack()
            assert message.payload == {"hello": "launchpad"}
        finally:
            queue.queue.delete()
            queue.close()


def test_result_backend_stores_and_returns_a_value():
    task_id = f"launchpad-test-{uuid.uuid4().hex}"
    app.backend.store_result(task_id, {"rows": 24}, "SUCCESS")
    assert app.AsyncResult(task_id).get(timeout=5) == {"rows": 24}
    app.backend.forget(task_id)


def test_celery_and_redis_clients_use_the_same_database():
    """Queued tasks sit in the database REDIS_URL names, whichever way the URL spells the server."""
    import redis
    from django.conf import settings

    queue_name = f"launchpad-test-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(settings.REDIS_URL)
    with app.connection_for_write() as conn:
        queue = conn.SimpleQueue(queue_name)
        try:
            queue.put({"hello": "launchpad"})
            assert client.llen(queue_name) == 1
        finally:
            queue.queue.delete()
            queue.close()
