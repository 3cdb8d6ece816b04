"""BI credentials: PostgreSQL login roles over a tenant's BI views, used over real TCP.

The roles are made through the API and used with psycopg as a BI tool would (the embedded server
asks every role but the application's for its password: analytics_project/devstack.py). Roles must
be committed to log in, so these tests commit (transactional_db); the tenants' schemas and every
role they made are dropped after, and that they are is checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterator

import psycopg
import pytest
from django.db import connection
from django_tenants.utils import schema_context
from psycopg import errors, sql

from apps.core.signals import audit_event
from apps.events.models import Event, Person, PersonDistinctId
from apps.governance.bi import roles
from apps.governance.bi.schema import VIEW_NAMES
from apps.governance.bi.services import BiUnavailable, bi_credential_issue, bi_credentials_drop_all
from apps.governance.models import BiCredential
from apps.metrics import services as metrics
from apps.metrics.models import Metric, MetricValue
from apps.segments import services as segments
from apps.segments.models import Segment
from apps.tenancy.services import tenant_create
from tests.helpers import assert_error, bearer
from tests.segments.test_segments_api import NOW, ago, ingest

DENIED = (errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction, errors.ObjectNotInPrerequisiteState)


@dataclass
class World:
    acme: Any
    globex: Any
    acme_key: str
    globex_key: str


def _bi_roles(*schemas: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT r.rolname FROM pg_roles r JOIN pg_shdescription d ON d.objoid = r.oid "
                       "AND d.classoid = 'pg_authid'::regclass WHERE d.description = ANY(%s)",
                       [[roles.role_comment(s) for s in schemas]])
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def world(transactional_db) -> Iterator[World]:  # noqa: ANN001
    """acme: ann (three page sessions), a visitor merged into bob, cid with a client session id,
    a metric with values and rollups, a segment; globex: one event. Committed."""
    acme_created = tenant_create(slug="bi-acme", name="Acme BI")
    globex_created = tenant_create(slug="bi-globex", name="Globex BI")
    acme, globex = acme_created.tenant, globex_created.tenant
    ingest(acme, [
        {"type": "identify", "userId": "ann", "traits": {"plan": "pro"}, "timestamp": ago(hours=6)},
        {"type": "page", "userId": "ann", "properties": {"url": "https://shop.test/"}, "timestamp": ago(hours=5)},
        {"type": "track", "userId": "ann", "event": "Add", "timestamp": ago(hours=4, minutes=50)},
        {"type": "page", "userId": "ann", "properties": {"url": "https://shop.test/cart"},
         "timestamp": ago(hours=4, minutes=40)},
        {"type": "page", "userId": "ann", "properties": {"path": "/again"}, "timestamp": ago(hours=2)},
        {"type": "track", "anonymousId": "visitor-1", "event": "View", "timestamp": ago(hours=3)},
        {"type": "track", "userId": "cid", "event": "Buy", "context": {"sessionId": "s-1"}, "timestamp": ago(hours=3)},
        {"type": "page", "userId": "cid", "properties": {"url": "https://shop.test/thanks"},
         "context": {"sessionId": "s-1"}, "timestamp": ago(hours=1)},
    ])
    # A later batch merges the visitor into bob: its event keeps the visitor's stored person.
    ingest(acme, [{"type": "identify", "anonymousId": "visitor-1", "userId": "bob", "messageId": "merge",
                   "timestamp": ago(hours=2, minutes=59)}])
    ingest(globex, [{"type": "track", "userId": "gina", "event": "Secret", "timestamp": ago(hours=1)}])
    with schema_context(acme.schema_name):
        metrics.metric_create(name="latency", metric_type="histogram", dimensions=["region"])
        metrics.metric_values_record_batch(data={"values": [
            {"metric": "latency", "value": 40 + n, "dimensions": {"region": ["eu", "us"][n % 2]},
             "timestamp": (NOW - timedelta(minutes=3 * n + 5)).isoformat()} for n in range(12)]})
        metrics.metrics_upkeep(retention_days=acme.retention_days)
        metrics.metrics_roll()
        segments.segment_create(name="buyers", rules={"op": "and", "rules": [
            {"event": "Buy", "operator": "gte", "value": 1, "within": "30d"}]})
    connection.set_schema_to_public()
    yield World(acme, globex, acme_created.secret_key.raw, globex_created.secret_key.raw)
    connection.set_schema_to_public()
    for tenant in (acme, globex):
        bi_credentials_drop_all(tenant=tenant)
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(tenant.schema_name)))
    assert _bi_roles(acme.schema_name, globex.schema_name) == []


def issue(client, key: str, **body: Any) -> dict[str, Any]:  # noqa: ANN001
    response = client.post("/api/v1/bi-credentials", {"name": "Metabase", **body}, content_type="application/json", **bearer(key))
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    return response.json()


def bi_connect(body: dict[str, Any], password: str | None = None) -> psycopg.Connection:
    if password is None:
        return psycopg.connect(body["connection_string"], autocommit=True, connect_timeout=10)
    return psycopg.connect(host=body["host"], port=body["port"], dbname=body["dbname"], user=body["username"],
                           password=password, autocommit=True, connect_timeout=10)


def rows(conn: psycopg.Connection, query: str) -> list[tuple]:
    return conn.execute(query).fetchall()


def _page(event: Event) -> str | None:
    if event.event_type != "page":
        return None
    props, page = event.properties or {}, (event.context or {}).get("page") or {}
    return props.get("url") or props.get("$current_url") or page.get("url") or props.get("path")


def expected_sessions(events: list[Event], person_of: dict[str, int]) -> set[tuple]:
    """The documented definition, computed from the ORM: a client session id groups its events;
    other events of a person split where two are more than 30 minutes apart."""
    groups: dict[Any, list[Event]] = {}
    by_person: dict[int, list[Event]] = {}
    for event in sorted(events, key=lambda e: (e.timestamp, e.id)):
        client = event.session_id or (event.properties or {}).get("$session_id")
        if client:
            groups.setdefault(("client", client), []).append(event)
        else:
            by_person.setdefault(person_of[event.distinct_id], []).append(event)
    for person, evs in by_person.items():
        run = 0
        for previous, event in zip([None, *evs], evs):
            if previous is None or event.timestamp - previous.timestamp > timedelta(minutes=30):
                run += 1
            groups.setdefault(("inferred", person, run), []).append(event)
    out = set()
    for key, evs in groups.items():
        pages = [p for p in map(_page, evs) if p]
        out.add((key[0], person_of[evs[0].distinct_id], evs[0].timestamp, evs[-1].timestamp,
                 (evs[-1].timestamp - evs[0].timestamp).total_seconds(), len(evs),
                 pages[0] if pages else None, pages[-1] if pages else None))
    return out


def test_every_view_answers_the_tenants_rows(world, client):  # noqa: ANN001
    body = issue(client, world.acme_key)
    assert body["schema"] == "bi_bi_acme" and body["views"] == list(VIEW_NAMES)
    assert body["username"].startswith("bi_bi_acme_") and len(body["password"]) >= 40
    with schema_context(world.acme.schema_name):
        person_of = dict(PersonDistinctId.objects.values_list("distinct_id", "person_id"))
        events = list(Event.objects.all())
        persons = {p.id: p for p in Person.objects.all()}
        values = list(MetricValue.objects.all())
        metric_names = dict(Metric.objects.values_list("id", "name"))
        buyers = Segment.objects.get(name="buyers")
        with connection.cursor() as cursor:
            cursor.execute("SELECT person_id FROM segment_members WHERE segment_id = %s", [buyers.id])
            members = {row[0] for row in cursor.fetchall()}
    assert person_of["visitor-1"] == person_of["bob"] and members == {person_of["cid"]}

    with bi_connect(body) as conn:
        # Every event, with the person its distinct id belongs to now (the visitor's is bob's).
        assert {(r[0], r[1], r[2]) for r in rows(conn, "SELECT id, distinct_id, person_id FROM events")} == {
            (e.id, e.distinct_id, person_of[e.distinct_id]) for e in events}
        assert {r[0] for r in rows(conn, "SELECT session_id FROM events WHERE distinct_id = 'cid'")} == {"s-1"}
        assert sorted(rows(conn, "SELECT id, distinct_ids, traits FROM persons")) == sorted(
            (pid, sorted(d for d, owner in person_of.items() if owner == pid), p.traits) for pid, p in persons.items())
        assert conn.execute("SELECT distinct_ids FROM persons WHERE id = %s", [person_of["bob"]]).fetchall() == [
            (["bob", "visitor-1"],)]
        assert set(rows(conn, "SELECT distinct_id, person_id FROM person_distinct_ids")) == set(person_of.items())

        sessions = set(rows(conn, "SELECT source, person_id, started_at, ended_at, duration_seconds, event_count, "
                                  "entry_page, exit_page FROM sessions"))
        assert sessions == expected_sessions(events, person_of)
        ann = sorted(s for s in sessions if s[1] == person_of["ann"])
        assert [(s[0], s[5], s[6], s[7]) for s in ann] == [
            ("inferred", 1, None, None),  # the identify, an hour before the first page
            ("inferred", 3, "https://shop.test/", "https://shop.test/cart"),
            ("inferred", 1, "/again", "/again")]
        client_session = rows(conn, "SELECT id, source, person_id, event_count, duration_seconds FROM sessions "
                                    "WHERE source = 'client'")
        assert client_session == [("s-1", "client", person_of["cid"], 2, 7200.0)]
        ids = [r[0] for r in rows(conn, "SELECT id FROM sessions")]
        assert len(ids) == len(set(ids)) == len(sessions)

        assert set(rows(conn, "SELECT id, metric, value, dimensions->>'region' FROM metric_values")) == {
            (v.id, metric_names[v.metric_id], v.value, v.dimensions["region"]) for v in values} and len(values) == 12
        by_minute: dict[Any, list[float]] = {}
        for v in values:
            by_minute.setdefault(v.timestamp.replace(second=0, microsecond=0), []).append(v.value)
        rolled = rows(conn, "SELECT bucket, count, sum, avg FROM metric_rollups WHERE granularity = 'minute' "
                            "AND all_series AND metric = 'latency'")
        assert {(b, c, s) for b, c, s, _ in rolled} == {(m, len(vs), sum(vs)) for m, vs in by_minute.items()}
        regions = rows(conn, "SELECT dimensions->>'region', sum(count) FROM metric_rollups WHERE granularity = 'day' "
                             "AND NOT all_series GROUP BY 1 ORDER BY 1")
        assert [(r, int(n)) for r, n in regions] == [("eu", 6), ("us", 6)]
        assert rows(conn, "SELECT name FROM metrics") == [("latency",)]
        assert rows(conn, "SELECT id, name FROM segments") == [(buyers.id, "buyers")]
        assert set(rows(conn, "SELECT segment, person_id FROM segment_members")) == {("buyers", m) for m in members}


def test_the_role_reads_its_views_and_nothing_else(world, client):  # noqa: ANN001
    body = issue(client, world.acme_key, statement_timeout_ms=700, connection_limit=2)
    issue(client, world.globex_key)  # globex's BI schema exists too
    acme_schema, globex_schema = world.acme.schema_name, world.globex.schema_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolconnlimit "
                       "FROM pg_roles WHERE rolname = %s", [body["username"]])
        assert cursor.fetchone() == (True, False, False, False, False, 2)
        cursor.execute("SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
                       "WHERE r.rolname = %s", [body["username"]])
        config = set(cursor.fetchone()[0])
        assert {"statement_timeout=700", "default_transaction_read_only=on"} <= config
        cursor.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", [body["username"]])
        assert cursor.fetchone()[0].startswith("SCRAM-SHA-256$4096:")

    with bi_connect(body) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("700ms",)
        with pytest.raises(errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(3)")
        refused = [
            "SELECT * FROM public.tenancy_apikey", "SELECT * FROM public.tenancy_tenant",
            "SELECT * FROM public.auth_user",
            f'SELECT * FROM "{acme_schema}".events', f'SELECT * FROM "{acme_schema}".persons',
            f'SELECT * FROM "{acme_schema}".governance_bi_credentials',
            f'SELECT * FROM "{globex_schema}".events', 'SELECT * FROM bi_bi_globex.events',
            "SELECT * FROM tenant_template.events",
        ]
        for statement in refused:
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)
        # Writes: refused by the read-only default, and by privileges once that is turned off.
        writes = ["INSERT INTO events (id) VALUES (1)", "UPDATE persons SET traits = '{}'",
                  "DELETE FROM segment_members", "CREATE TABLE public.mine (x int)", "CREATE TABLE bi_bi_acme.mine (x int)",
                  "CREATE TEMP TABLE mine (x int)", "CREATE SCHEMA mine"]
        # Writes a privilege must refuse even in a read-write transaction (these views are of one
        # table, so PostgreSQL would write through them), and objects the role must not create.
        privileged = ["INSERT INTO person_distinct_ids VALUES ('x', 1, now())", "UPDATE person_distinct_ids "
                      "SET person_id = 0", "DELETE FROM person_distinct_ids", "UPDATE metrics SET name = 'x'",
                      "DELETE FROM segments", "CREATE TABLE public.mine (x int)", "CREATE TABLE bi_bi_acme.mine (x int)",
                      "CREATE TEMP TABLE mine (x int)", "CREATE SCHEMA mine", "CREATE VIEW public.v AS SELECT 1"]
        for statement in writes + privileged:
            with pytest.raises(DENIED):
                conn.execute(statement)
        for statement in privileged:
            with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                conn.execute("SET TRANSACTION READ WRITE")
                conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] > 0  # the session still works

        # The connection limit: two may be open, the third is refused.
        with bi_connect(body):
            with pytest.raises(psycopg.OperationalError, match="too many connections"):
                bi_connect(body)

    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        bi_connect(body, password=body["password"][:-2] + "xx")


@pytest.fixture
def audited() -> Iterator[list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:  # noqa: ARG001
        sent.append(kwargs)

    audit_event.connect(receiver, weak=False)
    yield sent
    audit_event.disconnect(receiver)


def test_rotate_and_revoke(world, client, audited):  # noqa: ANN001
    headers = bearer(world.acme_key)
    body = issue(client, world.acme_key)
    with connection.cursor() as cursor:  # as a restore of the tenant's schema would (its drop takes the views)
        cursor.execute("DROP VIEW bi_bi_acme.sessions")
    with bi_connect(body) as conn:
        rotated = client.post(f"/api/v1/bi-credentials/{body['id']}/rotate", **headers)
        assert rotated.status_code == 200, rotated.content
        new = rotated.json()
        assert new["username"] == body["username"] and new["password"] != body["password"]
        assert new["rotated_at"] is not None
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            bi_connect(body)
        with bi_connect(new) as fresh:  # the views were made again, and granted again
            assert fresh.execute("SELECT count(*) FROM sessions").fetchone()[0] > 0
        assert conn.execute("SELECT 1").fetchone() == (1,)  # an open session outlives a rotation

        revoked = client.delete(f"/api/v1/bi-credentials/{body['id']}", **headers)
        assert revoked.status_code == 200, revoked.content
        assert revoked.json()["revoked_at"] is not None and revoked.json()["active"] is False
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")  # ended by the revocation
    with pytest.raises(psycopg.OperationalError):
        bi_connect(new)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [body["username"]])
        assert cursor.fetchone()[0] == 0
    again = client.delete(f"/api/v1/bi-credentials/{body['id']}", **headers)  # idempotent
    assert again.status_code == 200
    assert_error(client.post(f"/api/v1/bi-credentials/{body['id']}/rotate", **headers), 409, "revoked")
    listed = client.get("/api/v1/bi-credentials", **headers).json()
    assert [(c["id"], c["active"], "password" in c) for c in listed["results"]] == [(body["id"], False, False)]
    assert [(e["action"], e["object_type"], e["object_id"]) for e in audited] == [
        (action, "bi_credential", str(body["id"]))
        for action in ("bi_credential_issued", "bi_credential_rotated", "bi_credential_revoked")]
    assert body["password"] not in repr(audited) and new["password"] not in repr(audited)


def test_a_tenant_never_sees_nor_touches_anothers_credentials(world, client):  # noqa: ANN001
    acme_first = issue(client, world.acme_key, name="acme-1")
    acme_second = issue(client, world.acme_key, name="acme-2")
    globex_body = issue(client, world.globex_key, name="globex-1")
    # Ids are per tenant schema: globex's only credential has the number of acme's first.
    assert (acme_first["id"], acme_second["id"], globex_body["id"]) == (1, 2, 1)
    g = bearer(world.globex_key)
    listed = client.get("/api/v1/bi-credentials", **g).json()
    assert [(c["id"], c["username"]) for c in listed["results"]] == [(1, globex_body["username"])]
    for response in (client.get(f"/api/v1/bi-credentials/{acme_second['id']}", **g),
                     client.post(f"/api/v1/bi-credentials/{acme_second['id']}/rotate", **g),
                     client.delete(f"/api/v1/bi-credentials/{acme_second['id']}", **g)):
        assert_error(response, 404, "not_found")
    assert client.delete("/api/v1/bi-credentials/1", **g).status_code == 200  # globex revokes its own "1"
    for body in (acme_first, acme_second):  # acme's are untouched, and see none of globex's data
        with bi_connect(body) as conn:
            assert conn.execute("SELECT count(*) FROM events WHERE distinct_id = 'gina'").fetchone() == (0,)
        assert client.get(f"/api/v1/bi-credentials/{body['id']}", **bearer(world.acme_key)).json()["active"]
    with pytest.raises(psycopg.OperationalError):  # the revoked globex login is gone
        bi_connect(globex_body)


@pytest.mark.django_db
def test_bad_input_and_missing_rights_answer_4xx_and_503(client, make_tenant):  # noqa: ANN001
    tenant = make_tenant("bi-input")
    headers = bearer(tenant.secret_key)
    for body in ({}, {"name": ""}, {"name": "x", "connection_limit": 0}, {"name": "x", "connection_limit": 500},
                 {"name": "x", "statement_timeout_ms": 5}, {"name": "x", "statement_timeout_ms": "soon"}):
        assert_error(client.post("/api/v1/bi-credentials", body, content_type="application/json", **headers),
                     400, "invalid")
    for path in ("/api/v1/bi-credentials/12", "/api/v1/bi-credentials/x",
                 "/api/v1/bi-credentials/99999999999999999999999"):
        assert_error(client.get(path, **headers), 404, "not_found")
    assert_error(client.post("/api/v1/bi-credentials", {"name": "x"}, content_type="application/json",
                             **bearer(tenant.write_key)), 403, "forbidden")
    # A database user without CREATEROLE (but able to read and write every table) gets a 503.
    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE bi_test_no_createrole NOLOGIN IN ROLE pg_read_all_data, pg_write_all_data")
        cursor.execute("SET ROLE bi_test_no_createrole")
    try:
        error = assert_error(client.post("/api/v1/bi-credentials", {"name": "x"}, content_type="application/json",
                                         **headers), 503, "bi_unavailable")
        assert "CREATEROLE" in error["message"]
        with schema_context(tenant.tenant.schema_name), pytest.raises(BiUnavailable):
            bi_credential_issue(tenant=tenant.tenant, name="direct")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
    with schema_context(tenant.tenant.schema_name):
        assert not BiCredential.objects.exists()



def test_the_openapi_document_describes_the_endpoints(client, db):  # noqa: ANN001
    import yaml

    paths = yaml.safe_load(client.get("/api/schema/").content)["paths"]
    assert set(paths["/api/v1/bi-credentials"]) >= {"get", "post"}
    assert set(paths["/api/v1/bi-credentials/{credential_id}"]) >= {"get", "delete"}
    assert "post" in paths["/api/v1/bi-credentials/{credential_id}/rotate"]
    issued = paths["/api/v1/bi-credentials"]["post"]["responses"]
    assert {"201", "400", "503"} <= set(issued)
    assert issued["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/BiCredentialSecretOutput")
