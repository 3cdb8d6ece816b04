from __future__ import annotations

import gzip as gzip_module
import json
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.core.redis import get_redis
from tests.helpers import basic, bearer


def stored_events(tenant) -> list[dict[str, Any]]:  # noqa: ANN001
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute(
            'SELECT event_type, event, distinct_id, user_id, anonymous_id, message_id, "timestamp", received_at, '
            "properties, context, session_id FROM events ORDER BY id"
        )
        columns = [c.name for c in cursor.description]
        rows = [dict(zip(columns, row)) for row in cursor.fetchall()]
    for row in rows:  # Django's psycopg setup hands jsonb back as text
        row["properties"], row["context"] = json.loads(row["properties"]), json.loads(row["context"])
    return rows


@pytest.fixture(autouse=True)
def _fresh_limits():
    """Rate and quota counters live in Redis: start each test from zero."""
    redis = get_redis()
    for pattern in ("rate:*", "quota:*"):
        for key in redis.scan_iter(pattern):
            redis.delete(key)
    yield


class Sender:
    def __init__(self, client, key: str) -> None:  # noqa: ANN001
        self.client = client
        self.key = key

    def post(self, path: str, body: Any, *, auth: str = "bearer", gzip: bool = False, raw: bytes | None = None,
             headers: dict[str, str] | None = None):  # noqa: ANN201
        data = raw if raw is not None else json.dumps(body).encode()
        extra = dict(headers or {})
        if auth == "bearer":
            extra.update(bearer(self.key))
        elif auth == "basic":
            extra.update(basic(self.key))
        if gzip:
            data = gzip_module.compress(data)
            extra["HTTP_CONTENT_ENCODING"] = "gzip"
        return self.client.generic("POST", path, data, content_type="application/json", **extra)


@pytest.fixture
def send(client, acme) -> Sender:  # noqa: ANN001
    return Sender(client, acme.write_key)
