"""API keys: stored as prefix + hash only, resolvable, revocable, use tracked without DB writes."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.redis import get_redis
from apps.tenancy import services
from apps.tenancy.models import ApiKey
from apps.tenancy.selectors import api_key_resolve
from tests.helpers import bearer


def all_text_in_database() -> str:
    """Every row of every table of every schema, as text."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        tables = cursor.fetchall()
        chunks = []
        for schema, table in tables:
            cursor.execute(f'SELECT t::text FROM "{schema}"."{table}" AS t')
            chunks.extend(row[0] for row in cursor.fetchall())
    return "\n".join(chunks)


def test_the_raw_key_is_stored_nowhere_in_the_database(api_client, acme, platform_headers):
    issued = api_client.post(f"/platform/v1/tenants/{acme.slug}/keys", {"kind": "secret"}, format="json",
                             **platform_headers).json()["key"]
    api_client.get("/api/v1/tenant", **bearer(issued))
    dump = all_text_in_database()
    assert acme.secret_key[:11] in dump  # the scan does see the key rows
    for raw in (acme.write_key, acme.secret_key, issued):
        assert raw not in dump
        assert raw[11:] not in dump
    assert hashlib.sha256(issued.encode()).hexdigest() in dump


def test_keys_have_the_documented_shape(acme):
    assert acme.write_key.startswith("wk_") and len(acme.write_key) == 43
    assert acme.secret_key.startswith("sk_") and len(acme.secret_key) == 43
    stored = ApiKey.objects.get(prefix=acme.secret_key[:11])
    assert stored.kind == "secret" and stored.key_hash != acme.secret_key


def test_resolve_rejects_revoked_and_unknown_keys(acme):
    assert api_key_resolve(raw_key=acme.secret_key).tenant.slug == "acme"
    assert api_key_resolve(raw_key="sk_" + "0" * 40) is None
    assert api_key_resolve(raw_key="") is None
    services.api_key_revoke(prefix=acme.secret_key[:11])
    assert api_key_resolve(raw_key=acme.secret_key) is None
    assert api_key_resolve(raw_key=acme.write_key) is not None


@pytest.fixture
def redis_clean():
    redis = get_redis()
    redis.delete(services.LAST_USED_REDIS_KEY, services.LAST_USED_REDIS_KEY + ":flushing")
    services._last_reported.clear()
    yield redis
    redis.delete(services.LAST_USED_REDIS_KEY, services.LAST_USED_REDIS_KEY + ":flushing")
    services._last_reported.clear()


def test_using_a_key_writes_nothing_to_the_database(api_client, acme, redis_clean):
    with CaptureQueriesContext(connection) as context:
        for _ in range(3):
            assert api_client.get("/api/v1/tenant", **bearer(acme.secret_key)).status_code == 200
    writes = [q["sql"] for q in context.captured_queries if q["sql"].split()[0] in {"UPDATE", "INSERT", "DELETE"}]
    assert writes == []
    assert ApiKey.objects.get(prefix=acme.secret_key[:11]).last_used_at is None
    assert redis_clean.hexists(services.LAST_USED_REDIS_KEY, acme.secret_key[:11])


def test_flush_copies_last_use_to_the_database_once(api_client, acme, redis_clean):
    api_client.get("/api/v1/tenant", **bearer(acme.secret_key))
    assert services.api_keys_flush_last_used() == 1
    used = ApiKey.objects.get(prefix=acme.secret_key[:11]).last_used_at
    assert used is not None
    assert ApiKey.objects.get(prefix=acme.write_key[:11]).last_used_at is None
    # Run it twice, one effect.
    assert services.api_keys_flush_last_used() == 0
    assert ApiKey.objects.get(prefix=acme.secret_key[:11]).last_used_at == used


def test_flush_finishes_a_batch_left_by_an_interrupted_flush(acme, redis_clean):
    pending = services.LAST_USED_REDIS_KEY + ":flushing"
    redis_clean.hset(pending, acme.write_key[:11], "2026-01-02T03:04:05+00:00")
    redis_clean.hset(services.LAST_USED_REDIS_KEY, acme.secret_key[:11], "2026-01-03T00:00:00+00:00")
    assert services.api_keys_flush_last_used() == 1  # the left-over batch
    assert services.api_keys_flush_last_used() == 1  # then the newer one
    assert ApiKey.objects.get(prefix=acme.write_key[:11]).last_used_at.isoformat() == "2026-01-02T03:04:05+00:00"
    assert ApiKey.objects.get(prefix=acme.secret_key[:11]).last_used_at.isoformat() == "2026-01-03T00:00:00+00:00"


def test_an_older_use_never_overwrites_a_newer_one(acme, redis_clean):
    redis_clean.hset(services.LAST_USED_REDIS_KEY, acme.write_key[:11], "2026-05-01T00:00:00+00:00")
    services.api_keys_flush_last_used()
    redis_clean.hset(services.LAST_USED_REDIS_KEY, acme.write_key[:11], "2026-04-01T00:00:00+00:00")
    assert services.api_keys_flush_last_used() == 0
    assert ApiKey.objects.get(prefix=acme.write_key[:11]).last_used_at.month == 5


def test_the_flush_task_runs_the_service(acme, redis_clean):
    from apps.tenancy.tasks import api_keys_flush_last_used

    redis_clean.hset(services.LAST_USED_REDIS_KEY, acme.write_key[:11], "2026-05-01T00:00:00+00:00")
    assert api_keys_flush_last_used.delay().get() == 1


def test_requests_succeed_when_redis_is_down(api_client, acme, settings, redis_clean):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    get_redis.cache_clear()
    try:
        assert api_client.get("/api/v1/tenant", **bearer(acme.secret_key)).status_code == 200
    finally:
        get_redis.cache_clear()
