"""A revocation reaches every process at once (the Redis revocation epoch), the per-process cache
spares the hot path its database read, and a Redis outage fails safe (the database decides)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.tenancy import selectors
from apps.tenancy.models import ApiKey
from apps.tenancy.services import api_key_revocation_broadcast, api_key_revoke, tenant_create

ROOT = Path(__file__).resolve().parents[2]

# Resolves the key given as argv[1] each time a line arrives on stdin; answers one JSON line:
# whether the key was accepted and how many database queries the resolution made.
CHILD = """
import json, sys
import django
django.setup()
from django.db import connection
from django.test.utils import CaptureQueriesContext
from apps.tenancy.selectors import api_key_resolve_cached
print(json.dumps({"ready": True}), flush=True)
for _ in sys.stdin:
    with CaptureQueriesContext(connection) as queries:
        key = api_key_resolve_cached(raw_key=sys.argv[1])
    print(json.dumps({"active": key is not None, "queries": len(queries.captured_queries)}), flush=True)
"""


def read_line(process: subprocess.Popen, deadline_seconds: float = 30) -> dict:
    """The child's next answer, waiting for it until a deadline (never a fixed sleep)."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, "the other process did not answer in time"
        ready, _, _ = select.select([process.stdout], [], [], remaining)
        if ready:
            line = process.stdout.readline()
            assert line, f"the other process ended: {process.stderr.read()}"
            return json.loads(line)


def ask(process: subprocess.Popen) -> dict:
    process.stdin.write("resolve\n")
    process.stdin.flush()
    return read_line(process)


def child_env() -> dict[str, str]:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "analytics_project.settings.test",
            # Long enough that only the revocation epoch can make the other process forget the key.
            "API_KEY_CACHE_SECONDS": "3600"}


@pytest.mark.django_db(transaction=True)
def test_a_revocation_reaches_another_process_at_its_next_request():
    created = tenant_create(slug="keys-across-processes")
    raw = created.secret_key.raw
    process = subprocess.Popen([sys.executable, "-c", CHILD, raw], cwd=ROOT, env=child_env(), text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert read_line(process, 60) == {"ready": True}
        first = ask(process)
        assert first["active"] and first["queries"] >= 1  # read from the database, then cached
        assert ask(process) == {"active": True, "queries": 0}  # the hot path: no database read

        api_key_revoke(prefix=raw[:11])  # committed here, in this process

        assert ask(process)["active"] is False  # its very next resolution
        assert ask(process)["active"] is False
        # Other keys resolve again, and are cached again.
        assert ApiKey.objects.get(prefix=raw[:11]).revoked_at is not None
    finally:
        process.stdin.close()
        process.terminate()
        process.wait(timeout=30)


def test_a_revocation_seen_only_through_the_epoch_drops_the_cached_key(acme):
    raw = acme.secret_key
    assert selectors.api_key_resolve_cached(raw_key=raw) is not None
    # Another process revoked it: the row changed, this process's cache did not hear of it.
    ApiKey.objects.filter(prefix=raw[:11]).update(revoked_at="2026-01-01T00:00:00Z")
    assert selectors.api_key_resolve_cached(raw_key=raw) is not None  # still cached: no broadcast yet
    assert api_key_revocation_broadcast() is True
    assert selectors.api_key_resolve_cached(raw_key=raw) is None


def test_while_redis_is_down_keys_are_resolved_from_the_database(acme, monkeypatch):
    raw = acme.secret_key
    assert selectors.api_key_resolve_cached(raw_key=raw) is not None  # cached while Redis is up
    ApiKey.objects.filter(prefix=raw[:11]).update(revoked_at="2026-01-01T00:00:00Z")
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    monkeypatch.setattr(selectors, "get_redis", lambda: unreachable)
    monkeypatch.setattr(selectors, "_redis_down_until", 0.0)
    with CaptureQueriesContext(connection) as queries:
        assert selectors.api_key_resolve_cached(raw_key=raw) is None  # fail safe: the database decides
    assert any("tenancy_apikey" in q["sql"] for q in queries.captured_queries)
    # Each resolution asks the database while Redis is down (and Redis is not waited on again
    # for a second).
    with CaptureQueriesContext(connection) as queries:
        assert selectors.api_key_resolve_cached(raw_key=acme.write_key) is not None
        assert selectors.api_key_resolve_cached(raw_key=acme.write_key) is not None
    assert sum("tenancy_apikey" in q["sql"] for q in queries.captured_queries) == 2


def test_a_revocation_stands_when_redis_cannot_be_told(acme, monkeypatch):
    from apps.tenancy import services

    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    monkeypatch.setattr(services, "get_redis", lambda: unreachable)
    assert api_key_revocation_broadcast() is False
    key = api_key_revoke(prefix=acme.secret_key[:11])
    assert key.revoked_at is not None
    assert selectors.api_key_resolve_cached(raw_key=acme.secret_key) is None  # this process forgot it
