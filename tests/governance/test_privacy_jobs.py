"""Privacy jobs: anonymise (aggregates kept, every trace scrubbed, old ids resolve to nothing), export
(everything about the person, nothing else), delete; states, retries, failures, downloads, the audit
log, tenant isolation, validation, the console."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context
from psycopg import sql

from apps.core.redis import get_redis
from apps.core.signals import audit_event
from apps.events.ingestion import Clock, parse_segment
from apps.events.storage import events_write
from apps.governance.models.privacy import PrivacyExportFile, PrivacyJob
from apps.governance.privacy import services
from tests.events.test_admin import log_in
from tests.helpers import assert_error, bearer

NOW = datetime.now(timezone.utc).replace(microsecond=0)
DAY0 = (NOW - timedelta(days=10)).replace(hour=9, minute=0, second=0)
ANN, ANN_ANON = "ann-7f3e91", "anon-ann-7f3e91"
# Values that must be gone after ann is anonymised (traits, personal properties, context).
SECRETS = ["ann.lee@example.com", "Ann Leeworthy", "203.0.113.77", "secret-note-4471", "+44 7700 900123",
           "idfa-ann-5511"]
# Metric values (and their series) whose dimensions name a distinct id: in the export, not rewritten.
METRIC_TABLES = {"metric_values", "metric_series"}
RANGE = {"date_from": (DAY0 - timedelta(days=1)).date().isoformat(),
         "date_to": (NOW + timedelta(days=1)).date().isoformat(), "timezone": "UTC"}


def at(days: float = 0, hours: float = 0) -> str:
    return (DAY0 + timedelta(days=days, hours=hours)).isoformat()


def ingest(tenant, messages: list[dict], prefix: str = "m") -> None:  # noqa: ANN001
    with schema_context(tenant.schema_name):
        clock = Clock(received_at=NOW, sent_at=None, retention_days=3650)
        rows = [parse_segment({"messageId": f"{prefix}{i}", **m}, clock) for i, m in enumerate(messages)]
        events_write(rows=rows, received_at=NOW)


def shop_messages() -> list[dict]:
    """ann: anonymous visits, then identified (a merge), signs up, buys twice, personal data all over.
    bob and cid: other people doing the same things, so every aggregate has more than ann in it."""
    ann_context = {"ip": SECRETS[2], "traits": {"email": SECRETS[0]}, "device": {"advertisingId": SECRETS[5],
                                                                                   "type": "ios"},
                   "library": {"name": "analytics.js"}}
    return [
        {"type": "track", "anonymousId": ANN_ANON, "event": "View", "timestamp": at(0), "context": ann_context,
         "properties": {"path": "/", "referrer_id": ANN_ANON}},
        {"type": "identify", "anonymousId": ANN_ANON, "userId": ANN, "timestamp": at(0, 1),
         "traits": {"email": SECRETS[0], "name": SECRETS[1], "plan": "pro", "phone": SECRETS[4]}},
        {"type": "track", "userId": ANN, "event": "Signup", "timestamp": at(0, 2), "context": ann_context,
         "properties": {"email": SECRETS[0], "note": SECRETS[3], "phone": SECRETS[4], "plan": "pro"}},
        {"type": "track", "userId": ANN, "event": "Buy", "timestamp": at(1), "properties": {"amount": 10,
                                                                                           "$ip": SECRETS[2]}},
        {"type": "track", "userId": ANN, "event": "Buy", "timestamp": at(3), "properties": {"amount": 15}},
        {"type": "track", "userId": "bob", "event": "View", "timestamp": at(0, 3), "properties": {"path": "/"}},
        {"type": "track", "userId": "bob", "event": "Signup", "timestamp": at(0, 4), "properties": {"plan": "free"}},
        {"type": "track", "userId": "bob", "event": "Buy", "timestamp": at(2), "properties": {"amount": 7}},
        {"type": "identify", "userId": "bob", "timestamp": at(0, 3), "traits": {"email": "bob@example.com"}},
        {"type": "track", "userId": "cid", "event": "View", "timestamp": at(1), "properties": {"path": "/a"}},
        {"type": "track", "userId": "cid", "event": "Buy", "timestamp": at(4), "properties": {"amount": 3}},
    ]


@pytest.fixture
def shop(acme):  # noqa: ANN001, ANN201
    from apps.metrics import services as metrics
    from apps.segments import services as segments

    ingest(acme.tenant, shop_messages())
    with schema_context(acme.tenant.schema_name):
        segments.segment_create(name="buyers", rules={"op": "and", "rules": [
            {"event": "Buy", "operator": "gte", "value": 1, "within": "30d"}]})
        metrics.metric_create(name="session_seconds", metric_type="histogram", dimensions=["user_id", "region"])
        metrics.metric_values_record_batch(data={"values": [
            {"metric": "session_seconds", "value": 30, "dimensions": {"user_id": ANN, "region": "eu"}},
            {"metric": "session_seconds", "value": 40, "dimensions": {"user_id": ANN_ANON}},
            {"metric": "session_seconds", "value": 50, "dimensions": {"user_id": "bob"}},
        ]})
    return acme


@pytest.fixture
def api(client, acme):  # noqa: ANN001, ANN201
    class Api:
        def post(self, body: Any, key: str | None = None):  # noqa: ANN202
            return client.post("/api/v1/privacy/jobs", json.dumps(body), content_type="application/json",
                               **bearer(key or acme.secret_key))

        def get(self, path: str, key: str | None = None):  # noqa: ANN202
            return client.get(path, **bearer(key or acme.secret_key))

        def run(self, body: Any, capture: Any, key: str | None = None) -> dict:  # noqa: ANN401
            """Request a job, let its task run (eagerly, at the commit), answer the job as it ended."""
            with capture(execute=True):
                response = self.post(body, key)
            assert response.status_code == 202, response.content
            return self.get(f"/api/v1/privacy/jobs/{response.json()['id']}", key).json()

    return Api()


@pytest.fixture
def audited():  # noqa: ANN201
    calls: list[dict] = []

    def receiver(sender, **kwargs) -> None:  # noqa: ANN001, ANN003
        calls.append({**kwargs, "schema": connection.schema_name})

    audit_event.connect(receiver, weak=False)
    yield calls
    audit_event.disconnect(receiver)


def query(client, key: str, spec: dict) -> dict:  # noqa: ANN001
    response = client.post("/api/v1/query", json.dumps({**RANGE, **spec}), content_type="application/json",
                           **bearer(key))
    assert response.status_code == 200, response.content
    body = response.json()
    body.pop("computed_at")
    body.pop("cached")
    return body


AGGREGATES = [
    {"kind": "trends", "interval": "day", "series": [{"event": "View"}, {"event": "Buy", "math": "unique_persons"},
                                                     {"event": "Buy", "math": "sum", "property": "amount"},
                                                     {"event": "Signup", "math": "unique_persons"}]},
    {"kind": "trends", "interval": "day", "series": [{"event": "Buy", "math": "unique_persons"}], "segment": "buyers"},
    {"kind": "funnel", "steps": [{"event": "View"}, {"event": "Signup"}, {"event": "Buy"}]},
    {"kind": "retention", "start_event": "View", "return_event": "Buy", "period": "day", "periods": 5},
]


def schema_tables(tenant) -> list[str]:  # noqa: ANN001
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition",
                       [tenant.schema_name])
        return sorted(r[0] for r in cursor.fetchall())


def tables_holding(tenant, text: str) -> dict[str, int]:  # noqa: ANN001
    """Every table of the tenant's schema whose rows, as text, contain `text` (and in how many rows)."""
    found = {}
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        for table in schema_tables(tenant):
            cursor.execute(sql.SQL("SELECT count(*) FROM {} t WHERE strpos(t::text, %s) > 0").format(
                sql.Identifier(tenant.schema_name, table)), [text])
            count = cursor.fetchone()[0]
            if count:
                found[table] = count
    return found


def redis_values_holding(text: str) -> list[bytes]:
    redis = get_redis()
    return [key for key in redis.scan_iter(count=1000)
            if redis.type(key) == b"string" and text.encode() in (redis.get(key) or b"")]


def person_row_count(tenant) -> int:  # noqa: ANN001
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM persons")
        return cursor.fetchone()[0]


# --- anonymise ------------------------------------------------------------------------------------------


def test_anonymise_keeps_every_aggregate_and_scrubs_every_trace(client, shop, api, audited,
                                                                django_capture_on_commit_callbacks):
    key = shop.secret_key
    before = [query(client, key, spec) for spec in AGGREGATES]
    assert before[0]["series"][1]["total"] == 3 and before[2]["steps"][2]["count"] == 2  # ann counts in them
    # Cached answers holding ann's raw events and ids, as a dashboard would leave them.
    query(client, key, {"kind": "events", "event": "Signup"})
    assert redis_values_holding(SECRETS[0]) and redis_values_holding(ANN)
    persons = person_row_count(shop.tenant)
    for secret in [*SECRETS, ANN_ANON]:
        assert tables_holding(shop.tenant, secret), secret  # each is really there to begin with

    job = api.run({"kind": "anonymise", "distinct_id": ANN_ANON, "properties": ["note"]},
                  django_capture_on_commit_callbacks)

    assert job["state"] == "succeeded", job
    assert job["counts"] == {"events": 5, "distinct_ids": 2, "segments": 1}
    after = [query(client, key, spec) for spec in AGGREGATES]
    assert after == before
    for secret in SECRETS:
        assert tables_holding(shop.tenant, secret) == {}, secret
        assert redis_values_holding(secret) == [], secret
    # The old ids survive only as the job's own record of what was asked, and in metric values,
    # which belong to no person (they are in the export, not rewritten here).
    # The audit log keeps which person a privacy job was about (append-only, by design).
    assert set(tables_holding(shop.tenant, ANN_ANON)) <= {"governance_privacy_jobs", "audit_log", *METRIC_TABLES}
    assert set(tables_holding(shop.tenant, ANN)) <= {"governance_privacy_jobs", "audit_log", *METRIC_TABLES}
    assert redis_values_holding(ANN) == []
    assert person_row_count(shop.tenant) == persons  # ann's person went, one new person came
    with schema_context(shop.tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT distinct_id, user_id, anonymous_id, person_id FROM events "
                       "WHERE event IN ('View', 'Signup', 'Buy') AND distinct_id NOT IN ('bob', 'cid')")
        rows = cursor.fetchall()
        assert len({r[0] for r in rows}) == 1 and len({r[3] for r in rows}) == 1
        new_id, new_person = rows[0][0], rows[0][3]
        cursor.execute("SELECT traits::text FROM persons WHERE id = %s", [new_person])
        assert json.loads(cursor.fetchone()[0]) == {}
        cursor.execute("SELECT count(*) FROM person_overrides")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT properties::text, context::text FROM events WHERE distinct_id = %s AND event = 'View'",
                       [new_id])
        properties, context = (json.loads(v) for v in cursor.fetchone())
    assert properties == {"path": "/", "referrer_id": new_id}  # an old id as a value became the new one
    assert context == {"device": {"type": "ios"}, "library": {"name": "analytics.js"}}
    assert new_id not in json.dumps(job)  # nothing the API answers ties the old id to the new one
    assert [c["action"] for c in audited] == ["privacy_job_requested", "person_anonymised"]
    assert audited[1]["object_id"] == ANN_ANON and new_id not in json.dumps(audited, default=str)


def test_the_old_ids_resolve_to_nothing_and_come_back_as_a_new_person(client, shop, api,
                                                                      django_capture_on_commit_callbacks):
    api.run({"kind": "anonymise", "distinct_id": ANN}, django_capture_on_commit_callbacks)
    for old in (ANN, ANN_ANON):
        assert_error(api.get(f"/api/v1/persons/{old}"), 404, "person_not_found")
        assert api.get(f"/api/v1/events?distinct_id={old}").json()["results"] == []
    sent = client.post("/v1/track", json.dumps({"userId": ANN, "event": "View", "messageId": "after-1"}),
                       content_type="application/json", **bearer(shop.write_key))
    assert sent.status_code == 200, sent.content
    person = api.get(f"/api/v1/persons/{ANN}").json()
    assert person["distinct_ids"] == [ANN] and person["traits"] == {}
    assert [e["message_id"] for e in api.get(f"/api/v1/events?distinct_id={ANN}").json()["results"]] == ["after-1"]
    views = query(client, shop.secret_key, {"kind": "trends", "series": [{"event": "View",
                                                                         "math": "unique_persons"}]})
    assert views["series"][0]["total"] == 4  # ann (anonymous now), bob, cid, and the newcomer with ann's old id


def test_anonymise_removes_the_default_personal_properties_without_being_asked(shop, api,
                                                                               django_capture_on_commit_callbacks):
    job = api.run({"kind": "anonymise", "distinct_id": ANN}, django_capture_on_commit_callbacks)
    assert job["options"] == {"properties": []}
    for secret in (SECRETS[0], SECRETS[2], SECRETS[4]):  # email, ip/$ip, phone: on the default list
        assert tables_holding(shop.tenant, secret) == {}, secret
    assert "events" in tables_holding(shop.tenant, SECRETS[3])  # `note` was not asked for: kept


def test_an_event_stored_with_the_old_person_during_the_run_is_rewritten_too(shop):
    """A batch that read ann's person before the anonymisation committed stores its event with the
    old id and person after it: the straggler pass moves it to the new person."""
    from apps.events.anonymise import events_anonymise_stragglers, person_anonymise

    with schema_context(shop.tenant.schema_name), connection.cursor() as cursor:
        done = person_anonymise(distinct_id=ANN, properties=[])
        cursor.execute(
            "INSERT INTO events (\"timestamp\", received_at, event_type, event, distinct_id, person_id, user_id, "
            "message_id, properties, context) VALUES (now(), now(), 'track', 'Buy', %s, %s, %s, 'late-1', "
            "%s::jsonb, '{}'::jsonb)", [ANN, done.old_person_ids[-1], ANN, json.dumps({"email": SECRETS[0]})])
        moved = events_anonymise_stragglers(old_ids=done.old_distinct_ids, old_person_ids=done.old_person_ids,
                                            new_distinct_id=done.new_distinct_id, new_person_id=done.new_person_id,
                                            properties=[])
        assert moved == 1
        cursor.execute("SELECT distinct_id, person_id, properties::text FROM events WHERE message_id = 'late-1'")
        assert cursor.fetchone() == (done.new_distinct_id, done.new_person_id, "{}")


# --- export ---------------------------------------------------------------------------------------------


def read_zip(content: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    return {name: ([json.loads(line) for line in data.splitlines()] if name.endswith(".jsonl") else json.loads(data))
            for name, data in files.items()}


def test_export_holds_everything_about_the_person_and_only_them(shop, globex, api, audited,
                                                                django_capture_on_commit_callbacks):
    # Another tenant has a person with the very same distinct id.
    ingest(globex.tenant, [{"type": "identify", "userId": ANN, "traits": {"email": "other@globex.test"}},
                           {"type": "track", "userId": ANN, "event": "GlobexOnly"}])
    job = api.run({"kind": "export", "distinct_id": ANN}, django_capture_on_commit_callbacks)
    assert job["state"] == "succeeded", job
    assert job["counts"] == {"distinct_ids": 2, "events": 5, "metric_values": 2, "segments": 1}
    assert job["file"]["name"] == f"person-export-{job['id']}.zip" and job["file"]["expired"] is False
    download = api.get(job["file"]["url"].split("testserver", 1)[1])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"
    assert download["Content-Disposition"] == f'attachment; filename="person-export-{job["id"]}.zip"'
    assert int(download["Content-Length"]) == job["file"]["size"]
    files = read_zip(download.content)
    assert set(files) == {"manifest.json", "person.json", "events.jsonl", "segments.json", "metric_values.jsonl"}
    assert files["manifest.json"]["tenant"] == "acme" and files["manifest.json"]["subject"] == ANN
    person = files["person.json"]
    assert sorted(person["distinct_ids"]) == sorted([ANN, ANN_ANON])
    assert person["traits"] == {"email": SECRETS[0], "name": SECRETS[1], "plan": "pro", "phone": SECRETS[4]}
    events = files["events.jsonl"]
    assert [(e["event"], e["distinct_id"]) for e in events] == [
        ("View", ANN_ANON), ("$identify", ANN), ("Signup", ANN), ("Buy", ANN), ("Buy", ANN)]
    assert events[2]["properties"]["note"] == SECRETS[3] and events[0]["context"]["ip"] == SECRETS[2]
    assert [s["name"] for s in files["segments.json"]] == ["buyers"]
    assert sorted(v["value"] for v in files["metric_values.jsonl"]) == [30, 40]
    assert {v["metric"] for v in files["metric_values.jsonl"]} == {"session_seconds"}
    everything = json.dumps(files)
    assert "bob" not in everything and "GlobexOnly" not in everything and "globex" not in everything
    assert [c["action"] for c in audited] == ["privacy_job_requested", "person_exported"]
    # The export leaves the data as it was.
    assert api.get(f"/api/v1/persons/{ANN}").json()["traits"]["email"] == SECRETS[0]


def test_an_export_is_downloadable_until_it_expires(shop, api, django_capture_on_commit_callbacks):
    job = api.run({"kind": "export", "distinct_id": ANN}, django_capture_on_commit_callbacks)
    path = f"/api/v1/privacy/jobs/{job['id']}/download"
    assert api.get(path).status_code == 200
    with schema_context(shop.tenant.schema_name):
        assert services.privacy_exports_expire() == 0  # not yet
        expires = PrivacyJob.objects.get(pk=job["id"]).file_expires_at
        assert expires - datetime.now(timezone.utc) > timedelta(days=6, hours=23)
        # PRIVACY_EXPORT_TTL_DAYS later:
        past = datetime.now(timezone.utc) - timedelta(seconds=1)
        PrivacyJob.objects.filter(pk=job["id"]).update(file_expires_at=past)
        PrivacyExportFile.objects.update(expires_at=past)
    assert_error(api.get(path), 410, "export_expired")  # even before the upkeep deletes it
    with schema_context(shop.tenant.schema_name):
        assert services.privacy_exports_expire() == 1
        assert PrivacyExportFile.objects.count() == 0
    error = assert_error(api.get(path), 410, "export_expired")
    assert error["details"]["expired_at"] == past.isoformat()
    assert api.get(f"/api/v1/privacy/jobs/{job['id']}").json()["file"]["expired"] is True


def test_download_before_ready_or_of_another_kind_is_refused(shop, api):
    queued = api.post({"kind": "export", "distinct_id": ANN}).json()  # its task waits for a commit
    assert queued["state"] == "queued" and queued["file"] is None
    assert_error(api.get(f"/api/v1/privacy/jobs/{queued['id']}/download"), 409, "export_not_ready")
    deletion = api.post({"kind": "delete", "distinct_id": "bob"}).json()
    assert_error(api.get(f"/api/v1/privacy/jobs/{deletion['id']}/download"), 404, "no_export_file")
    assert_error(api.get("/api/v1/privacy/jobs/999999/download"), 404, "privacy_job_not_found")


def test_an_export_past_the_size_limit_fails_with_its_reason(shop, api, settings,
                                                            django_capture_on_commit_callbacks):
    ingest(shop.tenant, [{"type": "track", "userId": ANN, "event": "Noise", "properties": {"blob": f"{i:064x}" * 8}}
                         for i in range(300)], prefix="noise")
    settings.PRIVACY_EXPORT_MAX_BYTES = 4096
    job = api.run({"kind": "export", "distinct_id": ANN}, django_capture_on_commit_callbacks)
    assert job["state"] == "failed" and "PRIVACY_EXPORT_MAX_BYTES" in job["error"] and job["file"] is None
    with schema_context(shop.tenant.schema_name):
        assert PrivacyExportFile.objects.count() == 0


# --- delete ---------------------------------------------------------------------------------------------


def test_delete_removes_the_person_their_events_and_memberships(client, shop, api, audited,
                                                                django_capture_on_commit_callbacks):
    job = api.run({"kind": "delete", "distinct_id": ANN}, django_capture_on_commit_callbacks)
    assert job["state"] == "succeeded" and job["counts"] == {"events": 5, "distinct_ids": 2, "segments": 1}
    assert_error(api.get(f"/api/v1/persons/{ANN_ANON}"), 404, "person_not_found")
    for secret in [*SECRETS, ANN_ANON]:
        assert set(tables_holding(shop.tenant, secret)) <= {"governance_privacy_jobs", *METRIC_TABLES}, secret
    with schema_context(shop.tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM segment_members")
        assert cursor.fetchone()[0] == 2  # bob and cid
    assert [c["action"] for c in audited] == ["privacy_job_requested", "person_deleted"]


# --- states, retries, failures --------------------------------------------------------------------------


def test_a_job_goes_queued_running_succeeded_and_a_second_run_changes_nothing(shop, api):
    job = api.post({"kind": "anonymise", "distinct_id": ANN}).json()
    assert job["state"] == "queued" and job["started_at"] is None and job["requested_by"].startswith("key:sk_")
    with schema_context(shop.tenant.schema_name), connection.cursor() as cursor:
        first = services.privacy_job_run(job_id=job["id"])
        assert first.state == "succeeded" and first.attempts == 1 and first.started_at and first.finished_at
        cursor.execute("SELECT array_agg(DISTINCT distinct_id ORDER BY distinct_id) FROM events")
        ids_after_first = cursor.fetchone()[0]
        second = services.privacy_job_run(job_id=job["id"])
        assert second.state == "succeeded" and second.attempts == 1 and second.counts == first.counts
        cursor.execute("SELECT array_agg(DISTINCT distinct_id ORDER BY distinct_id) FROM events")
        assert cursor.fetchone()[0] == ids_after_first
        assert services.privacy_job_run(job_id=987654) is None


def test_the_same_request_while_one_is_pending_answers_that_job(shop, api):
    first = api.post({"kind": "export", "distinct_id": ANN}).json()
    again = api.post({"kind": "export", "distinct_id": ANN_ANON}).json()
    same = api.post({"kind": "export", "distinct_id": ANN}).json()
    assert same["id"] == first["id"] and again["id"] != first["id"]
    with schema_context(shop.tenant.schema_name):
        assert PrivacyJob.objects.count() == 2


def test_a_stuck_job_is_queued_again_and_runs_once(shop, api):
    job_id = api.post({"kind": "anonymise", "distinct_id": ANN}).json()["id"]
    long_ago = datetime.now(timezone.utc) - timedelta(hours=3)
    with schema_context(shop.tenant.schema_name):
        # Its worker died while running it: the work's transaction never committed.
        PrivacyJob.objects.filter(pk=job_id).update(state="running", attempts=1, started_at=long_ago,
                                                    created_at=long_ago)
        assert services.privacy_jobs_repair() == 1  # eager Celery: the task ran at once
        job = PrivacyJob.objects.get(pk=job_id)
        assert job.state == "succeeded" and job.attempts == 2 and job.counts["events"] == 5
        assert services.privacy_jobs_repair() == 0


def test_a_job_whose_worker_keeps_dying_fails_in_the_end(shop, api):
    job_id = api.post({"kind": "export", "distinct_id": ANN}).json()["id"]
    long_ago = datetime.now(timezone.utc) - timedelta(hours=3)
    with schema_context(shop.tenant.schema_name):
        PrivacyJob.objects.filter(pk=job_id).update(state="running", attempts=services.MAX_ATTEMPTS,
                                                    started_at=long_ago, created_at=long_ago)
        assert services.privacy_jobs_repair() == 0
        job = PrivacyJob.objects.get(pk=job_id)
        assert job.state == "failed" and "3 times" in job.error


def test_a_run_that_was_taken_over_commits_nothing(shop, api):
    """Queued again as stuck while still running: the late first delivery must not finish it."""
    from apps.governance.privacy import services as module

    job_id = api.post({"kind": "anonymise", "distinct_id": ANN}).json()["id"]
    with schema_context(shop.tenant.schema_name), connection.cursor() as cursor:
        original = module._succeed

        def taken_over(job, **fields):  # noqa: ANN001, ANN003, ANN202
            PrivacyJob.objects.filter(pk=job.pk).update(attempts=job.attempts + 1)  # another delivery took it
            return original(job, **fields)

        module._succeed = taken_over
        try:
            job = services.privacy_job_run(job_id=job_id)
        finally:
            module._succeed = original
        assert job.state == "running" and job.finished_at is None
        cursor.execute("SELECT count(*) FROM person_distinct_ids WHERE distinct_id = %s", [ANN])
        assert cursor.fetchone()[0] == 1  # rolled back: ann is still ann


def test_a_person_gone_before_the_job_runs_fails_the_job_with_the_reason(shop, api, audited,
                                                                         django_capture_on_commit_callbacks):
    waiting = api.post({"kind": "export", "distinct_id": ANN}).json()
    api.run({"kind": "delete", "distinct_id": ANN_ANON}, django_capture_on_commit_callbacks)
    with schema_context(shop.tenant.schema_name):
        job = services.privacy_job_run(job_id=waiting["id"])
        assert not PrivacyExportFile.objects.filter(job_id=job.pk).exists()
    assert job.state == "failed" and job.error == f"No person with distinct id {ANN!r}."
    assert job.finished_at is not None
    assert audited[-1]["action"] == "privacy_job_failed" and audited[-1]["object_id"] == str(waiting["id"])
    shown = api.get(f"/api/v1/privacy/jobs/{waiting['id']}").json()
    assert shown["state"] == "failed" and shown["error"] == job.error


def test_an_unexpected_error_is_recorded_and_changes_nothing(shop, api, monkeypatch,
                                                             django_capture_on_commit_callbacks):
    from apps.governance.privacy import services as module

    def broken(**kwargs):  # noqa: ANN003, ANN202
        raise RuntimeError("segment store unreachable")

    monkeypatch.setattr(module, "segment_members_move", broken)
    job = api.run({"kind": "anonymise", "distinct_id": ANN}, django_capture_on_commit_callbacks)
    assert job["state"] == "failed" and job["error"] == "RuntimeError: segment store unreachable"
    assert api.get(f"/api/v1/persons/{ANN}").json()["traits"]["email"] == SECRETS[0]  # rolled back


# --- the API: unknown persons, validation, isolation, lists ----------------------------------------------


def test_an_unknown_person_is_404_and_records_no_job(shop, api, audited):
    assert_error(api.post({"kind": "anonymise", "distinct_id": "nobody"}), 404, "person_not_found")
    with schema_context(shop.tenant.schema_name):
        assert PrivacyJob.objects.count() == 0
    assert audited == []


@pytest.mark.parametrize("body, field", [
    ({"distinct_id": ANN}, "kind"),
    ({"kind": "erase", "distinct_id": ANN}, "kind"),
    ({"kind": "export"}, "distinct_id"),
    ({"kind": "export", "distinct_id": ""}, "distinct_id"),
    ({"kind": "export", "distinct_id": "x" * 201}, "distinct_id"),
    ({"kind": "export", "distinct_id": ["a"]}, "distinct_id"),
    ({"kind": "anonymise", "distinct_id": ANN, "properties": "email"}, "properties"),
    ({"kind": "anonymise", "distinct_id": ANN, "properties": [""]}, "properties"),
    ({"kind": "anonymise", "distinct_id": ANN, "properties": [{"a": 1}]}, "properties"),
    ({"kind": "anonymise", "distinct_id": ANN, "properties": [f"p{i}" for i in range(101)]}, "properties"),
    ({"kind": "export", "distinct_id": ANN, "properties": ["email"]}, "properties"),
    ([], None),
])
def test_bad_requests_are_400_naming_the_field_and_record_nothing(shop, api, body, field):
    error = assert_error(api.post(body), 400, "invalid")
    if field is not None:
        assert field in json.dumps(error["details"]), error
    with schema_context(shop.tenant.schema_name):
        assert PrivacyJob.objects.count() == 0


def test_bad_list_filters_are_400(shop, api):
    assert_error(api.get("/api/v1/privacy/jobs?state=done"), 400, "invalid")
    assert_error(api.get("/api/v1/privacy/jobs?kind=erase"), 400, "invalid")
    assert api.get("/api/v1/privacy/jobs/not-a-number").status_code == 404


def test_the_list_pages_and_filters_by_state_and_kind(shop, api, django_capture_on_commit_callbacks):
    done = api.run({"kind": "export", "distinct_id": "cid"}, django_capture_on_commit_callbacks)
    queued = [api.post({"kind": kind, "distinct_id": who}).json()
              for kind, who in [("export", ANN), ("anonymise", "bob"), ("delete", "cid")]]
    first = api.get("/api/v1/privacy/jobs?limit=2").json()
    assert [j["id"] for j in first["results"]] == [queued[2]["id"], queued[1]["id"]]
    rest = api.get(first["next"].split("testserver", 1)[1]).json()
    assert [j["id"] for j in rest["results"]] == [queued[0]["id"], done["id"]] and rest["next"] is None
    assert [j["id"] for j in api.get("/api/v1/privacy/jobs?state=succeeded").json()["results"]] == [done["id"]]
    assert [j["id"] for j in api.get("/api/v1/privacy/jobs?kind=export&state=queued").json()["results"]] == [
        queued[0]["id"]]


def test_the_list_costs_the_same_queries_for_many_jobs(shop, api):
    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as context:
            assert api.get("/api/v1/privacy/jobs").status_code == 200
        return len(context)

    api.post({"kind": "export", "distinct_id": ANN})
    few = queries_for_list()
    for who in ("bob", "cid"):
        api.post({"kind": "export", "distinct_id": who})
        api.post({"kind": "delete", "distinct_id": who})
    assert queries_for_list() == few


def test_another_tenants_key_cannot_see_download_or_run_jobs_on_this_tenants_persons(
        shop, globex, api, django_capture_on_commit_callbacks):
    job = api.run({"kind": "export", "distinct_id": ANN}, django_capture_on_commit_callbacks)
    other = globex.secret_key
    assert_error(api.get(f"/api/v1/privacy/jobs/{job['id']}", other), 404, "privacy_job_not_found")
    assert_error(api.get(f"/api/v1/privacy/jobs/{job['id']}/download", other), 404, "privacy_job_not_found")
    assert api.get("/api/v1/privacy/jobs", other).json() == {"results": [], "next": None}
    for kind in ("anonymise", "export", "delete"):
        assert_error(api.post({"kind": kind, "distinct_id": ANN}, other), 404, "person_not_found")
    with schema_context(globex.tenant.schema_name):
        assert PrivacyJob.objects.count() == 0
    assert api.get(f"/api/v1/persons/{ANN}").json()["traits"]["email"] == SECRETS[0]


def test_write_keys_are_refused(shop, api):
    assert_error(api.post({"kind": "export", "distinct_id": ANN}, shop.write_key), 403, "forbidden")
    assert_error(api.get("/api/v1/privacy/jobs", shop.write_key), 403, "forbidden")


def test_the_endpoints_are_admin_scoped_and_documented(client, db):
    import yaml

    from apps.governance.api import privacy

    for view in (privacy.PrivacyJobListApi, privacy.PrivacyJobDetailApi, privacy.PrivacyJobDownloadApi):
        assert view.required_scope == "admin"
    paths = yaml.safe_load(client.get("/api/schema/").content)["paths"]
    assert set(paths["/api/v1/privacy/jobs"]) >= {"get", "post"}
    assert {"202", "400", "404"} <= set(paths["/api/v1/privacy/jobs"]["post"]["responses"])
    download = paths["/api/v1/privacy/jobs/{job_id}/download"]["get"]["responses"]
    assert "application/zip" in download["200"]["content"] and {"404", "409", "410"} <= set(download)


# --- the console ----------------------------------------------------------------------------------------


HOST = {"HTTP_HOST": "acme.localhost"}


def test_console_admins_request_jobs_see_their_state_and_download_exports(client, shop,
                                                                          django_capture_on_commit_callbacks):
    log_in(client, shop.tenant)
    form = client.get(f"/admin/governance/privacyjob/request/?distinct_id={ANN}", **HOST)
    assert form.status_code == 200 and ANN in form.content.decode()
    unknown = client.post("/admin/governance/privacyjob/request/", {"kind": "export", "distinct_id": "ghost"}, **HOST)
    assert unknown.status_code == 200 and "No person with distinct id" in unknown.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        made = client.post("/admin/governance/privacyjob/request/", {"kind": "export", "distinct_id": ANN}, **HOST)
    assert made.status_code == 302
    with schema_context(shop.tenant.schema_name):
        job = PrivacyJob.objects.get()
        assert job.state == "succeeded" and job.requested_by == "user:boss"
    page = client.get("/admin/governance/privacyjob/", **HOST).content.decode()
    assert "succeeded" in page and f"/admin/governance/privacyjob/{job.pk}/download/" in page
    assert "Request a privacy job" in page
    download = client.get(f"/admin/governance/privacyjob/{job.pk}/download/", **HOST)
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    assert read_zip(download.content)["person.json"]["traits"]["email"] == SECRETS[0]
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/admin/governance/privacyjob/request/",
                    {"kind": "anonymise", "distinct_id": ANN, "properties": "note, plan\nsomething"}, **HOST)
    with schema_context(shop.tenant.schema_name):
        anonymised = PrivacyJob.objects.get(kind="anonymise")
    assert anonymised.state == "succeeded" and anonymised.options == {"properties": ["note", "plan", "something"]}
    assert tables_holding(shop.tenant, SECRETS[3]) == {}


def test_console_users_who_are_not_admins_cannot_reach_privacy_jobs(client, shop):
    with schema_context(shop.tenant.schema_name):
        viewer, _ = Group.objects.get_or_create(name="viewer")
        viewer.permissions.set(Permission.objects.filter(codename__startswith="view_"))
        user = get_user_model().objects.create_user("vera", "v@x.y", "pw-123456", is_staff=True)
        user.groups.add(viewer)
        job = PrivacyJob.objects.create(kind="export", distinct_id=ANN, requested_by="key:sk_x")
    client.post("/admin/login/", {"username": "vera", "password": "pw-123456"}, **HOST)
    assert client.get("/admin/", **HOST).status_code == 200  # logged in
    for path in ("/admin/governance/privacyjob/", f"/admin/governance/privacyjob/{job.pk}/change/",
                 "/admin/governance/privacyjob/request/", f"/admin/governance/privacyjob/{job.pk}/download/"):
        assert client.get(path, **HOST).status_code == 403, path
    assert client.post("/admin/governance/privacyjob/request/", {"kind": "delete", "distinct_id": ANN},
                       **HOST).status_code == 403
    with schema_context(shop.tenant.schema_name):
        assert PrivacyJob.objects.count() == 1


def test_console_admins_export_or_anonymise_persons_from_the_persons_page(client, shop,
                                                                          django_capture_on_commit_callbacks):
    log_in(client, shop.tenant)
    with schema_context(shop.tenant.schema_name):
        ann, bob = person_id_of(ANN), person_id_of("bob")
    page = client.get("/admin/events/person/", **HOST).content.decode()
    assert "export_persons" in page and "anonymise_persons" in page
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post("/admin/events/person/", {"action": "export_persons", "_selected_action": [ann, bob]},
                           follow=True, **HOST)
    assert "2 export job(s) requested" in done.content.decode()
    with schema_context(shop.tenant.schema_name):
        jobs = {j.distinct_id: j for j in PrivacyJob.objects.all()}
    assert len(jobs) == 2 and "bob" in jobs and set(jobs) - {"bob"} <= {ANN, ANN_ANON}
    assert {(j.kind, j.state, j.requested_by) for j in jobs.values()} == {("export", "succeeded", "user:boss")}


def test_the_persons_page_offers_no_privacy_actions_to_non_admins(client, shop):
    with schema_context(shop.tenant.schema_name):
        viewer, _ = Group.objects.get_or_create(name="viewer")
        viewer.permissions.set(Permission.objects.filter(codename__startswith="view_"))
        get_user_model().objects.create_user("vera", "v@x.y", "pw-123456", is_staff=True).groups.add(viewer)
        ann = person_id_of(ANN)
    client.post("/admin/login/", {"username": "vera", "password": "pw-123456"}, **HOST)
    page = client.get("/admin/events/person/", **HOST)
    assert page.status_code == 200 and "export_persons" not in page.content.decode()
    client.post("/admin/events/person/", {"action": "anonymise_persons", "_selected_action": [ann]}, **HOST)
    with schema_context(shop.tenant.schema_name):
        assert PrivacyJob.objects.count() == 0


def person_id_of(distinct_id: str) -> int:
    from apps.events.models import PersonDistinctId

    return PersonDistinctId.objects.get(distinct_id=distinct_id).person_id
