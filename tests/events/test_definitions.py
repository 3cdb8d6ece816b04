"""Event and property definitions (apps.events.definitions): counted at ingestion through the real
endpoints (Segment, native, PostHog, explicit sessions), folded into the tables by the beat task,
then read back exactly; retried batches, Redis outages, crashed folds, bounds and the rebuild."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from io import StringIO

import pytest
import redis as redis_lib
import time_machine
from django.core.management import call_command
from django_tenants.utils import schema_context

from apps.core.redis import get_redis
from apps.events import definitions, realtime, tasks
from apps.events.models import EventDefinition, EventPropertyKey, PropertyDefinition
from tests.events.conftest import Sender, stored_events

T0 = datetime(2026, 12, 4, 12, 0, 30, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _no_pending():
    """Schema names (t_acme) are reused across tests while Redis outlives them: start from none."""
    redis = get_redis()
    for pattern in ("defs:*", "rt:*"):
        for key in redis.scan_iter(pattern):
            redis.delete(key)
    yield


def at(moment: datetime):  # noqa: ANN201
    return time_machine.travel(moment, tick=False)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def flush() -> int:
    """The beat task, as beat runs it (public schema, fanned out per tenant; Celery is eager here)."""
    return tasks.definitions_flush_all()


def events_of(tenant) -> dict[str, tuple]:  # noqa: ANN001
    with schema_context(tenant.schema_name):
        return {d.name: (d.volume, d.first_seen, d.last_seen) for d in EventDefinition.objects.all()}


def properties_of(tenant) -> dict[tuple[str, str], tuple]:  # noqa: ANN001
    with schema_context(tenant.schema_name):
        return {(p.kind, p.key): (p.volume, p.types, p.first_seen, p.last_seen)
                for p in PropertyDefinition.objects.all()}


def links_of(tenant) -> dict[tuple[str, str], int]:  # noqa: ANN001
    with schema_context(tenant.schema_name):
        return {(k.event, k.key): k.volume for k in EventPropertyKey.objects.all()}


def test_every_ingestion_api_counts_and_the_fold_writes_them_exactly(client, send, acme):
    t1, t2, t3 = T0 - timedelta(hours=3), T0 - timedelta(hours=2), T0 - timedelta(hours=1)
    with at(T0):
        assert send.post("/v1/track", {"userId": "ann", "event": "Buy", "timestamp": iso(t2),
                                       "properties": {"amount": 10, "plan": "pro"}}).status_code == 200
        assert send.post("/v1/batch", {"batch": [
            {"type": "track", "userId": "ann", "event": "Buy", "timestamp": iso(t1),
             "properties": {"amount": "ten", "at": "2026-12-01T10:00:00Z"}},
            {"type": "page", "userId": "bob", "properties": {"path": "/home"}, "timestamp": iso(t3)},
            {"type": "identify", "userId": "bob", "traits": {"plan": "pro", "seats": 3}, "timestamp": iso(t2)},
        ]}).status_code == 200
        assert send.post("/api/v1/events/batch", {"events": [
            {"event_name": "Search", "user_id": "cid", "timestamp": iso(t3),
             "properties": {"query": "shoes", "filters": {"size": 42}, "tags": ["a"], "none": None, "ok": True}},
        ]}).status_code == 200
        assert send.post("/api/v1/events/track", {"event_name": "Buy", "user_id": "cid", "timestamp": iso(t3),
                                                  "properties": {"amount": 5.5}}).status_code == 200
        # PostHog: $set traits on any event are person properties; a clock 24 hours fast is capped at receipt.
        assert send.post("/capture/", {"api_key": acme.write_key, "event": "$pageview", "distinct_id": "dee",
                                       "timestamp": iso(T0 + timedelta(hours=5)),
                                       "properties": {"$current_url": "https://acme.test/",
                                                      "$set": {"email": "dee@acme.test"}}},
                         auth="none").status_code == 200
        assert send.post("/api/v1/sessions/start", {"user_id": "eve"}).status_code == 201
    assert len(stored_events(acme.tenant)) == 8
    assert events_of(acme.tenant) == {}  # nothing until the fold
    flush()

    assert events_of(acme.tenant) == {
        "Buy": (3, t1, t3), "$pageview": (2, t3, T0), "$identify": (1, t2, t2), "Search": (1, t3, t3),
        "$session_start": (1, T0, T0)}
    assert properties_of(acme.tenant) == {
        ("event", "amount"): (3, ["number", "string"], t1, t3),
        ("event", "plan"): (1, ["string"], t2, t2),
        ("event", "at"): (1, ["datetime"], t1, t1),
        ("event", "path"): (1, ["string"], t3, t3),
        ("event", "query"): (1, ["string"], t3, t3),
        ("event", "filters"): (1, ["object"], t3, t3),
        ("event", "tags"): (1, ["array"], t3, t3),
        ("event", "none"): (1, ["null"], t3, t3),
        ("event", "ok"): (1, ["boolean"], t3, t3),
        ("event", "$current_url"): (1, ["string"], T0, T0),
        ("event", "$set"): (1, ["object"], T0, T0),
        ("person", "plan"): (1, ["string"], t2, t2),
        ("person", "seats"): (1, ["number"], t2, t2),
        ("person", "email"): (1, ["string"], T0, T0),
    }
    assert links_of(acme.tenant) == {
        ("Buy", "amount"): 3, ("Buy", "plan"): 1, ("Buy", "at"): 1, ("$pageview", "path"): 1,
        ("Search", "query"): 1, ("Search", "filters"): 1, ("Search", "tags"): 1, ("Search", "none"): 1,
        ("Search", "ok"): 1, ("$pageview", "$current_url"): 1, ("$pageview", "$set"): 1}

    # A second fold adds to what is there: volumes grow, times widen, types join.
    with at(T0 + timedelta(minutes=5)):
        send.post("/v1/track", {"userId": "ann", "event": "Buy", "properties": {"amount": True}})
    assert flush() >= 1
    volume, types, first, last = properties_of(acme.tenant)[("event", "amount")]
    assert (volume, types, first, last) == (4, ["boolean", "number", "string"], t1, T0 + timedelta(minutes=5))
    assert events_of(acme.tenant)["Buy"] == (4, t1, T0 + timedelta(minutes=5))


def test_a_retried_batch_is_not_counted_twice(send, acme):
    batch = {"batch": [{"type": "track", "userId": "ann", "event": "Buy", "messageId": "m-1",
                        "properties": {"amount": 1}},
                       {"type": "track", "userId": "ann", "event": "Buy", "messageId": "m-2"}]}
    with at(T0):
        assert send.post("/v1/batch", batch).json()["accepted"] == 2
        assert send.post("/v1/batch", batch).json()["accepted"] == 2  # answered the same, stored once
        # A large batch (the COPY path) retried: the same.
        big = {"batch": [{"type": "track", "userId": "bob", "event": "View", "messageId": f"v-{n}"}
                         for n in range(30)]}
        send.post("/v1/batch", big)
        send.post("/v1/batch", big)
    flush()
    assert {name: row[0] for name, row in events_of(acme.tenant).items()} == {"Buy": 2, "View": 30}
    assert properties_of(acme.tenant)[("event", "amount")][0] == 1


def test_redis_down_ingestion_succeeds_and_nothing_breaks(send, acme, monkeypatch, caplog):
    unreachable = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    monkeypatch.setattr(realtime, "get_redis", lambda: unreachable)
    monkeypatch.setattr(definitions, "get_redis", lambda: unreachable)
    before = definitions.DEFINITIONS_UNAVAILABLE._value.get()
    with at(T0):
        response = send.post("/v1/batch", {"batch": [{"type": "track", "userId": "a", "event": "Buy",
                                                      "properties": {"x": 1}}]})
    assert response.status_code == 200 and response.json()["accepted"] == 1
    assert [e["event"] for e in stored_events(acme.tenant)] == ["Buy"]
    assert definitions.DEFINITIONS_UNAVAILABLE._value.get() == before + 1
    assert "definitions' counts unavailable" in caplog.text
    assert definitions.definitions_flush(schema_name=acme.tenant.schema_name) == 0  # logged, not raised
    monkeypatch.undo()
    with at(T0):
        send.post("/v1/track", {"userId": "b", "event": "Buy"})
    flush()
    assert events_of(acme.tenant)["Buy"][0] == 1  # the batch sent while down was lost, the next one counted


def test_recorded_with_the_live_view_switched_off_in_one_round_trip(send, acme, monkeypatch, settings):
    settings.ENABLE_REAL_TIME = False
    pipelines = []
    real = realtime.get_redis

    class Counting:
        def pipeline(self, **kwargs):  # noqa: ANN003, ANN201
            pipe = real().pipeline(**kwargs)
            pipelines.append(pipe)
            return pipe

    monkeypatch.setattr(realtime, "get_redis", lambda: Counting())
    with at(T0):
        send.post("/v1/batch", {"batch": [{"type": "track", "userId": f"u{n}", "event": f"E{n % 3}",
                                           "properties": {"k": n}} for n in range(100)]})
    assert len(pipelines) == 1
    assert not list(get_redis().scan_iter("rt:*:n"))  # no live counters...
    flush()
    assert {name: row[0] for name, row in events_of(acme.tenant).items()} == {"E0": 34, "E1": 33, "E2": 33}


def test_keys_are_bounded_per_event_and_in_length(send, acme):
    properties = {f"k{n:03}": n for n in range(250)}
    properties["x" * 201] = "too long"
    with at(T0):
        assert send.post("/v1/track", {"userId": "a", "event": "Wide", "properties": properties}).status_code == 200
    flush()
    keys = {key for kind, key in properties_of(acme.tenant)}
    assert keys == {f"k{n:03}" for n in range(200)}


def test_a_fold_that_dies_before_its_commit_is_applied_by_the_next_once(send, acme, monkeypatch):
    with at(T0):
        send.post("/v1/batch", {"batch": [{"type": "track", "userId": "a", "event": "Buy",
                                           "properties": {"amount": 1}}] * 1})
    real_store = definitions.definitions_store

    def dying(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("worker killed")

    monkeypatch.setattr(definitions, "definitions_store", dying)
    with pytest.raises(RuntimeError):
        definitions.definitions_flush(schema_name=acme.tenant.schema_name)
    assert events_of(acme.tenant) == {}
    with at(T0 + timedelta(seconds=10)):  # meanwhile, more arrives
        send.post("/v1/track", {"userId": "b", "event": "Buy"})
    monkeypatch.setattr(definitions, "definitions_store", real_store)
    assert definitions.definitions_flush(schema_name=acme.tenant.schema_name) == 2
    assert events_of(acme.tenant)["Buy"][0] == 2
    assert definitions.definitions_flush(schema_name=acme.tenant.schema_name) == 0
    assert events_of(acme.tenant)["Buy"][0] == 2


def test_a_fold_that_dies_after_its_commit_is_not_applied_again(send, acme, monkeypatch):
    with at(T0):
        send.post("/v1/track", {"userId": "a", "event": "Buy", "properties": {"amount": 1}})

    def dying(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("worker killed before deleting its keys")

    monkeypatch.setattr(definitions, "_finish", dying)
    with pytest.raises(RuntimeError):
        definitions.definitions_flush(schema_name=acme.tenant.schema_name)
    assert events_of(acme.tenant)["Buy"][0] == 1  # committed
    assert get_redis().exists(f"defs:{acme.tenant.schema_name}:flushing:n")  # its keys left behind
    monkeypatch.undo()
    definitions.definitions_flush(schema_name=acme.tenant.schema_name)
    assert events_of(acme.tenant)["Buy"][0] == 1  # not twice
    assert not list(get_redis().scan_iter(f"defs:{acme.tenant.schema_name}:flushing:*"))


def test_a_fold_waits_for_the_lock_of_another(send, acme):
    with at(T0):
        send.post("/v1/track", {"userId": "a", "event": "Buy"})
    get_redis().set(f"defs:{acme.tenant.schema_name}:lock", "another-worker", ex=60)
    assert definitions.definitions_flush(schema_name=acme.tenant.schema_name) == 0
    assert events_of(acme.tenant) == {}
    get_redis().delete(f"defs:{acme.tenant.schema_name}:lock")
    assert definitions.definitions_flush(schema_name=acme.tenant.schema_name) == 1


def test_the_rebuild_command_builds_definitions_from_stored_events_and_keeps_descriptions(acme):
    from tests.segments.test_segments_api import NOW, ago, ingest

    ingest(acme.tenant, [
        {"type": "identify", "userId": "ann", "traits": {"plan": "pro"}, "timestamp": ago(days=3)},
        {"type": "track", "userId": "ann", "event": "Buy", "properties": {"amount": 3}, "timestamp": ago(days=2)},
        {"type": "track", "userId": "ann", "event": "Buy", "properties": {"amount": "3", "when": "2026-01-01"},
         "timestamp": ago(days=1)},
    ])
    with schema_context(acme.tenant.schema_name):
        EventDefinition.objects.create(name="Buy", volume=99, first_seen=NOW, last_seen=NOW, description="Paid")
    out = StringIO()
    call_command("definitions_rebuild", "acme", stdout=out)
    assert "acme: 2 events" in out.getvalue()
    day = timedelta(days=1)
    with schema_context(acme.tenant.schema_name):
        buy = EventDefinition.objects.get(name="Buy")
        assert (buy.volume, buy.description) == (2, "Paid")
        assert (buy.first_seen, buy.last_seen) == (NOW - 2 * day, NOW - day)
    assert properties_of(acme.tenant)[("event", "amount")][:2] == (2, ["number", "string"])
    assert properties_of(acme.tenant)[("event", "when")][:2] == (1, ["datetime"])
    assert properties_of(acme.tenant)[("person", "plan")][:2] == (1, ["string"])
    assert links_of(acme.tenant) == {("Buy", "amount"): 2, ("Buy", "when"): 1}
    call_command("definitions_rebuild", stdout=StringIO())  # again, every tenant: the same, not doubled
    assert events_of(acme.tenant)["Buy"][0] == 2


def test_the_demo_sample_gets_its_definitions(acme):
    from apps.events.sample import sample_events_generate

    with schema_context(acme.tenant.schema_name):
        stored = sample_events_generate(users=20, days=5)
    found = events_of(acme.tenant)
    assert sum(volume for volume, _, _ in found.values()) == stored
    assert {"$pageview", "$identify", "Signed Up"} <= set(found)
    assert properties_of(acme.tenant)[("person", "plan")][1] == ["string"]
    assert ("$pageview", "path") in links_of(acme.tenant)


def test_the_demo_tenant_whose_events_predate_definitions_gets_them_rebuilt(make_tenant, monkeypatch, tmp_path):
    from apps.tenancy.management.commands import ensure_demo_tenant
    from tests.segments.test_segments_api import ago, ingest

    monkeypatch.setattr(ensure_demo_tenant, "KEYS_FILE", tmp_path / "demo-keys.json")
    demo = make_tenant("demo", timezone="Europe/Paris")
    ingest(demo.tenant, [{"type": "track", "userId": "ann", "event": "Old", "properties": {"plan": "pro"},
                          "timestamp": ago(days=2)}])  # stored directly, as before this feature
    assert events_of(demo.tenant) == {}
    call_command("ensure_demo_tenant", "--json", stdout=StringIO())
    assert events_of(demo.tenant)["Old"][0] == 1
    assert links_of(demo.tenant) == {("Old", "plan"): 1}


def test_every_fast_path_route_records_definitions(acme):
    """The production WSGI fast path (apps.events.api.fastpath) routes to the same views: each of its
    routes counts what it stores."""
    from apps.events.api.fastpath import ROUTES
    from tests.events.test_fastpath import call

    bodies = {
        "/v1/track": {"userId": "u", "event": "Seg", "properties": {"a": 1}},
        "/v1/identify": {"userId": "u", "traits": {"t": 1}},
        "/v1/page": {"userId": "u", "properties": {"path": "/"}},
        "/v1/screen": {"userId": "u", "name": "Home"},
        "/v1/group": {"userId": "u", "groupId": "g"},
        "/v1/alias": {"userId": "u", "previousId": "p"},
        "/v1/batch": {"batch": [{"type": "track", "userId": "u", "event": "SegBatch"}]},
        "/api/v1/events/track": {"event_name": "Native", "user_id": "u"},
        "/api/v1/events/batch": {"events": [{"event_name": "NativeBatch", "user_id": "u"}]},
        "/api/v1/events/track/batch": {"events": [{"event_name": "SeedBatch", "user_id": "u"}]},
        "/batch/": {"batch": [{"event": "PhBatch", "distinct_id": "u"}]},
        "/capture/": {"event": "PhCapture", "distinct_id": "u", "properties": {"$set": {"plan": "pro"}}},
        "/e/": {"event": "PhE", "distinct_id": "u"},
    }
    assert {path.rstrip("/") for path in ROUTES} == {path.rstrip("/") for path in bodies}  # every route tried
    with at(T0):
        for path, body in bodies.items():
            assert call(path, body, key=acme.write_key)[0] == 200, path
    flush()
    assert set(events_of(acme.tenant)) == {
        "Seg", "$identify", "$pageview", "$screen", "$group", "$create_alias", "SegBatch", "Native", "NativeBatch",
        "SeedBatch", "PhBatch", "PhCapture", "PhE"}
    assert properties_of(acme.tenant)[("person", "plan")][0] == 1
    assert properties_of(acme.tenant)[("person", "t")][0] == 1


def test_beat_folds_every_minute_with_a_registered_task():
    from analytics_project.celery import app

    entry = app.conf.beat_schedule["definitions-flush"]
    assert entry["schedule"] == 60.0
    assert entry["task"] in app.tasks and "apps.events.tasks.definitions_flush" in app.tasks
