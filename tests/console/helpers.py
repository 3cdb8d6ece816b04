"""Shared pieces of the console's page tests: ingestion through the real write path, console log-in."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from apps.events.ingestion import Clock, parse_segment
from apps.events.storage import events_write
from apps.governance.roles import console_user_create

PASSWORD = "a-long-console-pass-42"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
_ids = itertools.count()


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat()


def ingest(tenant: Any, messages: list[dict]) -> None:
    """Store Segment-style messages in `tenant`'s schema (each its own messageId)."""
    with schema_context(tenant.schema_name):
        clock = Clock(received_at=NOW, sent_at=None, retention_days=3650)
        rows = [parse_segment({"messageId": f"console-{next(_ids)}", **m}, clock) for m in messages]
        events_write(rows=rows, received_at=NOW)


def log_in(client: Any, tenant: Any, role: str | None) -> str:
    """Log `client` in to `tenant`'s console as a new user with `role` (None: staff without any
    permission); returns the host to send requests to."""
    username = f"user-{role or 'none'}"
    with schema_context(tenant.schema_name):
        if role is None:
            get_user_model().objects.create_user(username=username, password=PASSWORD, is_staff=True)
        else:
            console_user_create(username=username, password=PASSWORD, role=role)
    host = f"{tenant.slug}.localhost"
    response = client.post("/admin/login/", {"username": username, "password": PASSWORD, "next": "/admin/"},
                           HTTP_HOST=host)
    assert response.status_code == 302, f"{username} could not log in"
    return host
