"""GET /api/v1/events, exports, privacy deletion and export."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pyarrow.parquet as pq
import pytest

from apps.events.models import PrivacyJob
from tests.events.conftest import stored_events
from tests.helpers import assert_error, bearer


@pytest.fixture
def loaded(send):  # noqa: ANN001, ANN201
    base = datetime.now(timezone.utc) - timedelta(days=2)
    batch = []
    for i in range(30):
        batch.append({"type": "track", "userId": f"u{i % 3}", "event": "Buy" if i % 2 else "View",
                      "properties": {"n": i, "plan": "pro" if i % 5 == 0 else "free"},
                      "timestamp": (base + timedelta(minutes=i)).isoformat(), "messageId": f"m{i}"})
    assert send.post("/v1/batch", {"batch": batch}).json()["accepted"] == 30
    return base


def test_events_are_listed_newest_first_with_cursor_pages(client, acme, loaded):
    page = client.get("/api/v1/events?limit=12", **bearer(acme.secret_key)).json()
    seen = [e["properties"]["n"] for e in page["results"]]
    while page["next"]:
        page = client.get(page["next"], **bearer(acme.secret_key)).json()
        seen += [e["properties"]["n"] for e in page["results"]]
    assert seen == list(range(29, -1, -1))


def test_event_filters(client, acme, loaded):
    def ns(query: str) -> list[int]:
        return sorted(e["properties"]["n"] for e in
                      client.get(f"/api/v1/events?{query}&limit=100", **bearer(acme.secret_key)).json()["results"])

    assert ns("event=Buy") == list(range(1, 30, 2))
    assert ns("distinct_id=u1") == list(range(1, 30, 3))
    assert ns("properties.plan=pro") == [0, 5, 10, 15, 20, 25]
    start = (loaded + timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    end = (loaded + timedelta(minutes=13)).isoformat().replace("+00:00", "Z")
    assert ns(f"date_from={start}&date_to={end}") == [10, 11, 12]
    assert_error(client.get("/api/v1/events?date_from=soon", **bearer(acme.secret_key)), 400, "invalid")


def test_export_jsonl_csv_parquet(client, acme, loaded):
    jsonl = b"".join(client.get("/api/v1/events/export?format=jsonl", **bearer(acme.secret_key)).streaming_content)
    rows = [json.loads(line) for line in jsonl.splitlines()]
    assert [r["properties"]["n"] for r in rows] == list(range(30))

    raw = b"".join(client.get("/api/v1/events/export?format=csv&event=Buy", **bearer(acme.secret_key))
                   .streaming_content)
    table = list(csv.DictReader(io.StringIO(raw.decode())))
    assert len(table) == 15 and json.loads(table[0]["properties"])["n"] == 1

    response = client.get("/api/v1/events/export?format=parquet", **bearer(acme.secret_key))
    assert response["Content-Type"] == "application/vnd.apache.parquet"
    parquet = pq.read_table(io.BytesIO(b"".join(response.streaming_content)))
    assert parquet.num_rows == 30
    assert sorted(parquet.column("event").to_pylist()) == sorted(["Buy", "View"] * 15)

    assert_error(client.get("/api/v1/events/export?format=yaml", **bearer(acme.secret_key)), 400, "invalid")


def test_csv_export_neutralises_formula_cells_and_the_others_keep_raw_data(client, send, acme):
    formulas = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+cmd", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
    batch = [{"type": "track", "userId": text, "event": text, "properties": {"n": -3.5}, "messageId": f"f{i}"}
             for i, text in enumerate(formulas)]
    assert send.post("/v1/batch", {"batch": batch}).json()["accepted"] == len(formulas)

    def export(kind: str) -> bytes:
        return b"".join(client.get(f"/api/v1/events/export?format={kind}", **bearer(acme.secret_key))
                        .streaming_content)

    table = list(csv.DictReader(io.StringIO(export("csv").decode(), newline="")))
    assert [(r["event"], r["user_id"], r["distinct_id"]) for r in table] == [("'" + t,) * 3 for t in formulas]
    assert {json.loads(r["properties"])["n"] for r in table} == {-3.5} and table[0]["id"].isdigit()
    assert [json.loads(line)["event"] for line in export("jsonl").splitlines()] == formulas
    assert pq.read_table(io.BytesIO(export("parquet"))).column("user_id").to_pylist() == formulas


def test_export_is_isolated(client, acme, globex, loaded):
    body = b"".join(client.get("/api/v1/events/export?format=jsonl", **bearer(globex.secret_key)).streaming_content)
    assert body == b""


def test_person_export_holds_traits_ids_and_events(client, send, acme):
    send.post("/v1/track", {"anonymousId": "anon", "event": "Viewed"})
    send.post("/v1/identify", {"anonymousId": "anon", "userId": "u", "traits": {"email": "u@x.y"}})
    response = client.get("/api/v1/persons/anon/export", **bearer(acme.secret_key))
    document = json.loads(b"".join(response.streaming_content))
    assert sorted(document["person"]["distinct_ids"]) == ["anon", "u"]
    assert document["person"]["traits"] == {"email": "u@x.y"}
    assert [e["event"] for e in document["events"]] == ["Viewed", "$identify"]


def test_delete_person_removes_the_person_and_all_their_events(client, send, acme,
                                                               django_capture_on_commit_callbacks):
    send.post("/v1/track", {"anonymousId": "anon", "event": "Viewed"})
    send.post("/v1/identify", {"anonymousId": "anon", "userId": "u"})
    send.post("/v1/track", {"userId": "someone-else", "event": "Kept"})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete("/api/v1/persons/u", **bearer(acme.secret_key))
    assert response.status_code == 202
    job = response.json()
    # Eager Celery in tests: the job ran when the request's transaction committed.
    done = client.get(f"/api/v1/privacy-jobs/{job['id']}", **bearer(acme.secret_key)).json()
    assert done["status"] == "succeeded" and done["events_deleted"] == 2
    assert sorted(done["distinct_ids"]) == ["anon", "u"]
    assert [e["event"] for e in stored_events(acme.tenant)] == ["Kept"]
    assert_error(client.get("/api/v1/persons/anon", **bearer(acme.secret_key)), 404, "person_not_found")


def test_delete_job_runs_once(client, send, acme, django_capture_on_commit_callbacks):
    from django_tenants.utils import schema_context

    from apps.events.privacy import person_delete_run

    send.post("/v1/track", {"userId": "u", "event": "e"})
    with django_capture_on_commit_callbacks(execute=True):
        job_id = client.delete("/api/v1/persons/u", **bearer(acme.secret_key)).json()["id"]
    with schema_context(acme.tenant.schema_name):
        again = person_delete_run(job_id=job_id)
        assert again.status == "succeeded" and again.events_deleted == 1
        assert PrivacyJob.objects.count() == 1


def test_delete_unknown_person_is_404_and_creates_no_job(client, acme):
    from django_tenants.utils import schema_context

    assert_error(client.delete("/api/v1/persons/ghost", **bearer(acme.secret_key)), 404, "person_not_found")
    with schema_context(acme.tenant.schema_name):
        assert PrivacyJob.objects.count() == 0


def test_privacy_jobs_are_isolated(client, send, acme, globex):
    send.post("/v1/track", {"userId": "u", "event": "e"})
    job_id = client.delete("/api/v1/persons/u", **bearer(acme.secret_key)).json()["id"]
    assert_error(client.get(f"/api/v1/privacy-jobs/{job_id}", **bearer(globex.secret_key)), 404,
                 "privacy_job_not_found")


def test_a_stuck_privacy_job_is_requeued_and_runs_once(client, send, acme):
    from datetime import timedelta

    from django.utils import timezone
    from django_tenants.utils import schema_context

    from apps.events.privacy import privacy_jobs_repair

    send.post("/v1/track", {"userId": "u", "event": "e"})
    # The request's on_commit never fires inside the test transaction: the job stays pending, as
    # if its task had been lost.
    job_id = client.delete("/api/v1/persons/u", **bearer(acme.secret_key)).json()["id"]
    with schema_context(acme.tenant.schema_name):
        PrivacyJob.objects.filter(pk=job_id).update(status="running",
                                                    requested_at=timezone.now() - timedelta(hours=2))
        assert privacy_jobs_repair() == 1
        job = PrivacyJob.objects.get(pk=job_id)
        assert job.status == "succeeded" and job.events_deleted == 1
        assert privacy_jobs_repair() == 0
    assert stored_events(acme.tenant) == []
