"""Backup and restore of one tenant (`tenant_backup`, `tenant_restore`).

A tenant holds events over several monthly partitions (merged persons included), metric values and
their rollups, a dashboard shared by link, a segment, and a report with a subscription. It is backed
up, deleted and restored; restored over itself after a change (`--replace`); and copied under
another slug (`--as`). Each time, every table's row count, the partitions and their bounds, query
answers, the public rows and the keys come back as they were.

pg_dump runs in another process, so the data is committed (transactional_db) and the schemas made
here are dropped at the end.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_context, schema_exists
from psycopg import sql

from apps.dashboards import services as dashboards
from apps.events.services import events_upkeep
from apps.insights.engine import query_run
from apps.metrics import services as metrics
from apps.reports import services as reports
from apps.segments import services as segments
from apps.tenancy.models import ApiKey, Domain, ShareLink, Tenant
from apps.tenancy.services import api_key_create, api_key_revoke, tenant_create
from tests.helpers import bearer
from tests.segments.test_segments_api import ingest

NOW = datetime.now(timezone.utc).replace(microsecond=0)
SLUG, COPY = "bk-source", "bk-copy"
SCHEMA, COPY_SCHEMA = Tenant.schema_name_for(SLUG), Tenant.schema_name_for(COPY)
# A range that ended before now: its answers are cached for a day, so a restore must forget them.
RANGE = {"date_from": (NOW - timedelta(days=100)).date().isoformat(), "date_to": NOW.date().isoformat()}
TRENDS = {"kind": "trends", "interval": "week", **RANGE,
          "series": [{"event": "Buy"}, {"event": "View", "math": "unique_persons"}]}
METRIC = {"kind": "metric", "metric": "latency", "aggregation": "p95", "granularity": "week", **RANGE}


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@dataclass(frozen=True)
class Source:
    secret_key: str
    revoked_key: str
    share_token: str


@pytest.fixture
def source(transactional_db) -> Iterator[Source]:  # noqa: ANN001
    """The tenant to back up, committed; every schema these tests can make is dropped after."""
    created = tenant_create(slug=SLUG, name="Backup Co", timezone="Europe/Paris")
    tenant = created.tenant
    ingest(tenant, [
        {"type": "identify", "userId": "ann", "traits": {"plan": "pro"}, "timestamp": ago(95)},
        {"type": "track", "anonymousId": "visitor-1", "event": "View", "timestamp": ago(80)},
        {"type": "identify", "anonymousId": "visitor-1", "userId": "bob", "timestamp": ago(79)},
        *[{"type": "track", "userId": ["ann", "bob", "cid"][n % 3], "event": "View" if n % 4 else "Buy",
           "properties": {"n": n}, "timestamp": ago(n * 1.5)} for n in range(64)],
    ])
    with schema_context(tenant.schema_name):
        events_upkeep()  # moves the back-filled months out of the default partition into their own
        metrics.metric_create(name="latency", metric_type="histogram", dimensions=["region"])
        metrics.metric_values_record_batch(data={"values": [
            {"metric": "latency", "value": 40 + n, "dimensions": {"region": ["eu", "us"][n % 2]},
             "timestamp": ago(n * 1.2)} for n in range(70)]})
        metrics.metrics_upkeep(retention_days=tenant.retention_days)
        metrics.metrics_roll()
        dashboard = dashboards.dashboard_create(name="sales", display_name="Sales")
        dashboards.widget_create(dashboard=dashboard, tenant=tenant, name="weekly", widget_type="line",
                                 query_config=TRENDS)
        _, share_token = dashboards.share_create(dashboard=dashboard)
        segments.segment_create(name="buyers", rules={"op": "and", "rules": [
            {"event": "Buy", "operator": "gte", "value": 1, "within": "120d"}]})
        report = reports.report_create(tenant=tenant, name="weekly-sales", report_type="queries",
                                       query_config={"queries": [{"name": "traffic", "query": TRENDS}]},
                                       time_range="7d", formats=["html"], frequency="weekly", weekday=0,
                                       hour=9, minute=0, timezone="Europe/Paris")
        reports.subscribe(report=report, email="ann@example.com")
    revoked = api_key_create(tenant=tenant, kind=ApiKey.Kind.SECRET, name="old").raw
    api_key_revoke(prefix=revoked[:11])
    connection.set_schema_to_public()
    yield Source(secret_key=created.secret_key.raw, revoked_key=revoked, share_token=share_token)
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        for schema in (SCHEMA, COPY_SCHEMA, f"restore_{SCHEMA}", f"restore_{COPY_SCHEMA}"):
            cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def schema_state(schema: str) -> dict[str, Any]:
    """Each table's row count, the partitions with their bounds, and two query answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY 1", [schema])
        tables = [row[0] for row in cursor.fetchall()]
        counts = {}
        for table in tables:
            cursor.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema),
                                                                        sql.Identifier(table)))
            counts[table] = cursor.fetchone()[0]
        cursor.execute("SELECT p.relname, c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                       "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
                       "JOIN pg_namespace n ON n.oid = p.relnamespace WHERE n.nspname = %s ORDER BY 1, 2",
                       [schema])
        partitions = cursor.fetchall()
    tenant = Tenant.objects.get(schema_name=schema)
    with schema_context(schema):
        answers = [query_run(data=spec, tenant=tenant) for spec in (TRENDS, METRIC)]
    for answer in answers:
        del answer["computed_at"], answer["cached"]
    return {"counts": counts, "partitions": partitions, "answers": answers}


def public_rows(slug: str) -> dict[str, Any]:
    """The tenant's public rows without their ids, which a restore renews."""
    tenant = Tenant.objects.get(slug=slug)
    return {
        "tenant": [tenant.name, tenant.timezone, tenant.retention_days, tenant.monthly_event_quota,
                   tenant.created_at],
        "domains": sorted(Domain.objects.filter(tenant=tenant).values_list("domain", "is_primary")),
        "keys": sorted(ApiKey.objects.filter(tenant=tenant).values_list(
            "kind", "name", "prefix", "key_hash", "created_at", "revoked_at")),
        "share_links": sorted(ShareLink.objects.filter(tenant=tenant).values_list(
            "dashboard_id", "token_hash", "prefix", "created_at", "revoked_at")),
    }


def tenant_delete(slug: str) -> None:
    """There is no tenant deletion service: the schema and the rows (cascading) go by hand."""
    tenant = Tenant.objects.get(slug=slug)
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(tenant.schema_name)))
    tenant.delete()


def tenant_slug(client, key: str) -> str | int:  # noqa: ANN001
    """The slug the key's tenant answers, or the status code when it does not answer."""
    response = client.get("/api/v1/tenant", **bearer(key))
    return response.json()["slug"] if response.status_code == 200 else response.status_code


def test_a_deleted_tenant_comes_back_from_its_backup(source, client, tmp_path):
    before, rows_before = schema_state(SCHEMA), public_rows(SLUG)
    # The data is what the test claims: months of events and values in their own partitions.
    assert sum(1 for table, n in before["counts"].items() if table.startswith("events_p") and n) >= 3
    assert sum(1 for table, n in before["counts"].items() if table.startswith("metric_values_p") and n) >= 2
    for table in ("person_overrides", "metric_rollups", "dashboard_widgets", "segment_members",
                  "report_subscriptions"):
        assert before["counts"][table] > 0, table
    assert before["answers"][0]["series"][0]["total"] == 15  # every Buy but the one of today

    backup = tmp_path / "bk-source.backup"
    assert "Backed up bk-source (schema t_bk_source)" in run("tenant_backup", SLUG, "--output", str(backup))
    assert backup.stat().st_mode & 0o077 == 0  # it holds all the tenant's data
    with pytest.raises(CommandError, match="already exists"):
        run("tenant_backup", SLUG, "--output", str(backup))

    tenant_delete(SLUG)
    assert tenant_slug(client, source.secret_key) == 401
    assert client.get(f"/d/{source.share_token}").status_code == 404

    assert "Restored bk-source (schema t_bk_source)" in run("tenant_restore", str(backup))
    assert schema_state(SCHEMA) == before
    assert public_rows(SLUG) == rows_before
    assert tenant_slug(client, source.secret_key) == SLUG
    assert tenant_slug(client, source.revoked_key) == 401
    assert client.get(f"/d/{source.share_token}").status_code == 200
    assert not schema_exists(f"restore_{SCHEMA}")


def test_restoring_over_a_tenant_needs_replace_and_brings_back_the_backup(source, client, tmp_path):
    backup = tmp_path / "bk-source.backup"
    run("tenant_backup", SLUG, "--output", str(backup))
    before, rows_before = schema_state(SCHEMA), public_rows(SLUG)
    ingest(Tenant.objects.get(slug=SLUG), [{"type": "track", "userId": "dan", "event": "Buy",
                                            "messageId": "after-backup", "timestamp": ago(2)}])
    later_key = api_key_create(tenant=Tenant.objects.get(slug=SLUG), kind=ApiKey.Kind.SECRET).raw
    cache.clear()
    changed = schema_state(SCHEMA)  # the answers about the changed data are now the cached ones
    assert changed["counts"] != before["counts"] and changed["answers"] != before["answers"]

    with pytest.raises(CommandError, match="already exists: pass --replace"):
        run("tenant_restore", str(backup))
    assert schema_state(SCHEMA) == changed

    run("tenant_restore", str(backup), "--replace")
    assert schema_state(SCHEMA) == before  # the answers cached from the changed data were forgotten
    assert public_rows(SLUG) == rows_before
    assert tenant_slug(client, source.secret_key) == SLUG
    assert tenant_slug(client, later_key) == 401


def test_as_restores_a_working_copy_beside_the_original(source, client, tmp_path):
    backup = tmp_path / "bk-source.backup"
    run("tenant_backup", SLUG, "--output", str(backup))
    before = schema_state(SCHEMA)

    with pytest.raises(CommandError, match="slug"):
        run("tenant_restore", str(backup), "--as", "Not A Slug")
    result = json.loads(run("tenant_restore", str(backup), "--as", COPY, "--json"))
    assert (result["slug"], result["schema_name"], result["pending_migrations"]) == (COPY, COPY_SCHEMA, [])
    copied = schema_state(COPY_SCHEMA)
    # The copy's audit log: the original's entries, and the issue of the copy's two new keys.
    assert copied["counts"].pop("audit_log") == before["counts"]["audit_log"] + 2
    assert copied == {**before, "counts": {t: n for t, n in before["counts"].items() if t != "audit_log"}}
    assert schema_state(SCHEMA) == before
    assert tenant_slug(client, result["keys"]["secret"]) == COPY
    assert tenant_slug(client, source.secret_key) == SLUG
    copy = Tenant.objects.get(slug=COPY)
    assert list(Domain.objects.filter(tenant=copy).values_list("domain", flat=True)) == ["bk-copy.localhost"]
    assert sorted(ApiKey.objects.filter(tenant=copy).values_list("kind", flat=True)) == ["secret", "write"]
    assert not ShareLink.objects.filter(tenant=copy).exists()

    with pytest.raises(CommandError, match="already exists"):
        run("tenant_restore", str(backup), "--as", COPY)

    # Nothing in the copy refers to the original's schema: it works with the original gone.
    tenant_delete(SLUG)
    ingest(copy, [{"type": "track", "userId": "eve", "event": "Buy", "messageId": "in-copy",
                   "timestamp": ago(1)}])
    after = schema_state(COPY_SCHEMA)["counts"]
    assert after["persons"] == before["counts"]["persons"] + 1
    assert sum(n for table, n in after.items() if table.startswith("events_")) == \
        sum(n for table, n in before["counts"].items() if table.startswith("events_")) + 1


def test_restore_refuses_a_file_that_is_not_a_backup(db, tmp_path):
    not_backup = tmp_path / "notes.txt"
    not_backup.write_text("hello")
    with pytest.raises(CommandError, match="not a readable tenant backup"):
        run("tenant_restore", str(not_backup))
    with pytest.raises(CommandError, match="No tenant 'nobody'"):
        run("tenant_backup", "nobody", "--output", str(tmp_path / "x.backup"))
    assert not (tmp_path / "x.backup").exists()


def test_a_restore_names_the_migrations_its_backup_lacks_and_refuses_a_newer_release(source, tmp_path):
    table = sql.Identifier(SCHEMA, "django_migrations")
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("DELETE FROM {} WHERE id = (SELECT max(id) FROM {}) RETURNING app || '.' || name")
                       .format(table, table))
        (missing,) = cursor.fetchone()
    run("tenant_backup", SLUG, "--output", str(tmp_path / "older.backup"))
    result = json.loads(run("tenant_restore", str(tmp_path / "older.backup"), "--as", COPY, "--json"))
    assert result["pending_migrations"] == [missing]

    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("INSERT INTO {} (app, name, applied) VALUES ('events', '9999_future', now())")
                       .format(table))
    run("tenant_backup", SLUG, "--output", str(tmp_path / "newer.backup"))
    with pytest.raises(CommandError, match="newer release .*events.9999_future"):
        run("tenant_restore", str(tmp_path / "newer.backup"), "--as", COPY, "--replace")
    # Refused before the swap: the copy it would have replaced is intact, and no staging schema is left.
    assert Tenant.objects.filter(slug=COPY).exists() and schema_exists(COPY_SCHEMA)
    assert not schema_exists(f"restore_{COPY_SCHEMA}")
