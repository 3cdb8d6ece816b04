"""`GET /api/v1/realtime`: live figures from the Redis counters kept at ingestion (apps.events.realtime).

Events go in through the real ingestion endpoints (Segment, native, PostHog) at frozen times; the
figures are read back through the endpoint and checked against what was sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import redis as redis_lib
import time_machine

from apps.core.redis import get_redis
from apps.events import realtime
from tests.events.conftest import Sender, stored_events
from tests.helpers import assert_error, bearer

T0 = datetime(2026, 12, 4, 12, 0, 30, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _no_counters():
    """Schema names (t_acme) are reused across tests while Redis outlives them: start from none."""
    redis = get_redis()
    for key in redis.scan_iter("rt:*"):
        redis.delete(key)
    yield


def at(moment: datetime):  # noqa: ANN201
    return time_machine.travel(moment, tick=False)


def read(client, handle) -> dict:  # noqa: ANN001
    response = client.get("/api/v1/realtime", **bearer(handle.secret_key))
    assert response.status_code == 200, response.content
    return response.json()


def minute(moment: datetime) -> str:
    return moment.replace(second=0, microsecond=0).isoformat().replace("+00:00", "Z")


def by_minute(body: dict) -> dict[str, int]:
    return {row["minute"]: row["events"] for row in body["events_per_minute"] if row["events"]}


def test_exact_figures_from_every_ingestion_api(client, send, acme):
    with at(T0):
        assert send.post("/v1/batch", {"batch": [
            {"type": "track", "userId": "ann", "event": "Buy"},
            {"type": "track", "userId": "ann", "event": "Buy"},
            {"type": "page", "userId": "bob", "name": "Home", "properties": {"path": "/home"}},
            {"type": "page", "anonymousId": "anon-1", "properties": {"url": "https://acme.test/pricing"}},
        ]}).status_code == 200
        assert send.post("/api/v1/events/batch", {"events": [
            {"event_name": "Buy", "user_id": "cid"},
            {"event_name": "Search", "user_id": "ann"},
            {"event_type": "page_view", "user_id": "cid", "properties": {"path": "/home"}},
        ]}).status_code == 200
        assert send.post("/v1/track", {"userId": "dee", "event": "Search"}).status_code == 200
        assert send.post("/batch/", {"batch": [
            {"event": "$pageview", "distinct_id": "eve", "properties": {"$current_url": "https://acme.test/"}},
        ]}).status_code == 200
        body = read(client, acme)

    assert body["at"] == "2026-12-04T12:00:30Z"
    assert body["window_minutes"] == 30
    assert body["events"] == 9
    assert body["active_persons"] == {"last_5_minutes": 6, "last_30_minutes": 6}  # ann bob anon-1 cid dee eve
    minutes = [row["minute"] for row in body["events_per_minute"]]
    assert len(minutes) == 30 and minutes[0] == "2026-12-04T11:31:00Z" and minutes[-1] == "2026-12-04T12:00:00Z"
    assert minutes == sorted(minutes)
    assert by_minute(body) == {"2026-12-04T12:00:00Z": 9}
    assert body["top_events"] == [{"event": "$pageview", "count": 4}, {"event": "Buy", "count": 3},
                                  {"event": "Search", "count": 2}]
    assert body["top_pages"] == [{"page": "/home", "count": 2}, {"page": "https://acme.test/", "count": 1},
                                 {"page": "https://acme.test/pricing", "count": 1}]


def test_events_fall_in_the_minute_they_are_received(client, send, acme):
    with at(datetime(2026, 12, 4, 11, 40, 5, tzinfo=timezone.utc)):
        send.post("/v1/track", {"userId": "early", "event": "Open"})
    with at(datetime(2026, 12, 4, 12, 0, 10, tzinfo=timezone.utc)):
        send.post("/v1/batch", {"batch": [{"type": "track", "userId": f"u{n}", "event": "Open"} for n in range(3)]})
    with at(datetime(2026, 12, 4, 12, 3, 59, tzinfo=timezone.utc)):
        send.post("/v1/batch", {"batch": [{"type": "track", "userId": "u0", "event": "Close"},
                                          {"type": "track", "userId": "late", "event": "Close"}]})

    with at(datetime(2026, 12, 4, 12, 5, 0, tzinfo=timezone.utc)):
        body = read(client, acme)
    assert body["events_per_minute"][-1]["minute"] == "2026-12-04T12:05:00Z"
    assert by_minute(body) == {"2026-12-04T11:40:00Z": 1, "2026-12-04T12:00:00Z": 3, "2026-12-04T12:03:00Z": 2}
    assert body["events"] == 6
    # 12:01-12:05: u0 and late; 11:36-12:05: everyone.
    assert body["active_persons"] == {"last_5_minutes": 2, "last_30_minutes": 5}
    assert body["top_events"] == [{"event": "Open", "count": 4}, {"event": "Close", "count": 2}]
    assert body["top_pages"] == []

    # 12:10: the window is 11:41-12:10; the 11:40 event has left it, the 12:00 ones have left the last 5 minutes.
    with at(datetime(2026, 12, 4, 12, 10, 0, tzinfo=timezone.utc)):
        body = read(client, acme)
    assert by_minute(body) == {"2026-12-04T12:00:00Z": 3, "2026-12-04T12:03:00Z": 2}
    assert body["active_persons"] == {"last_5_minutes": 0, "last_30_minutes": 4}
    assert body["top_events"] == [{"event": "Open", "count": 3}, {"event": "Close", "count": 2}]

    with at(datetime(2026, 12, 4, 12, 34, 0, tzinfo=timezone.utc)):
        body = read(client, acme)
    assert body["events"] == 0 and body["active_persons"] == {"last_5_minutes": 0, "last_30_minutes": 0}
    assert [row["events"] for row in body["events_per_minute"]] == [0] * 30
    assert body["top_events"] == [] and body["top_pages"] == []


def test_old_timestamps_do_not_count_as_now(client, send, acme):
    with at(T0):
        response = send.post("/v1/batch", {"batch": [
            {"type": "track", "userId": "backfill", "event": "Old", "timestamp": (T0 - timedelta(hours=2)).isoformat()},
            {"type": "track", "userId": "backfill", "event": "Old",
             "timestamp": (T0 - timedelta(minutes=30, seconds=1)).isoformat()},
            {"type": "page", "userId": "backfill", "properties": {"path": "/old"},
             "timestamp": (T0 - timedelta(days=3)).isoformat()},
            {"type": "track", "userId": "recent", "event": "Late",
             "timestamp": (T0 - timedelta(minutes=29)).isoformat()},
        ]})
        assert response.json()["accepted"] == 4
        body = read(client, acme)
    assert len(stored_events(acme.tenant)) == 4  # stored all the same
    # Counted in the minute it was received, not the minute it claims.
    assert by_minute(body) == {"2026-12-04T12:00:00Z": 1}
    assert body["active_persons"] == {"last_5_minutes": 1, "last_30_minutes": 1}
    assert body["top_events"] == [{"event": "Late", "count": 1}]
    assert body["top_pages"] == []


def test_a_tenant_sees_only_its_own_figures(client, send, acme, globex):
    with at(T0):
        send.post("/v1/batch", {"batch": [{"type": "page", "userId": "a", "properties": {"path": "/acme-only"}},
                                          {"type": "track", "userId": "a", "event": "AcmeThing"}]})
        Sender(client, globex.write_key).post("/v1/track", {"userId": "g", "event": "GlobexThing"})
        mine, theirs = read(client, acme), read(client, globex)
    assert mine["events"] == 2 and theirs["events"] == 1
    assert [row["event"] for row in mine["top_events"]] == ["$pageview", "AcmeThing"]
    assert theirs["top_events"] == [{"event": "GlobexThing", "count": 1}]
    assert theirs["top_pages"] == [] and mine["top_pages"] == [{"page": "/acme-only", "count": 1}]
    assert mine["active_persons"]["last_30_minutes"] == theirs["active_persons"]["last_30_minutes"] == 1
    assert all(f":{acme.tenant.schema_name}:" in key.decode() or f":{globex.tenant.schema_name}:" in key.decode()
               for key in get_redis().scan_iter("rt:*"))


def test_a_write_key_is_refused(client, acme):
    assert_error(client.get("/api/v1/realtime", **bearer(acme.write_key)), 403, "forbidden")
    assert_error(client.get("/api/v1/realtime"), 401, "unauthenticated")


def test_redis_down_ingestion_succeeds_and_the_endpoint_answers_503(client, send, acme, monkeypatch, caplog):
    unreachable = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    monkeypatch.setattr(realtime, "get_redis", lambda: unreachable)
    before = realtime.REALTIME_UNAVAILABLE._value.get()
    with at(T0):
        response = send.post("/v1/batch", {"batch": [{"type": "track", "userId": "a", "event": "Buy"}]})
    assert response.status_code == 200 and response.json()["accepted"] == 1
    assert [e["event"] for e in stored_events(acme.tenant)] == ["Buy"]
    assert realtime.REALTIME_UNAVAILABLE._value.get() == before + 1
    assert "real-time counters unavailable" in caplog.text
    assert_error(client.get("/api/v1/realtime", **bearer(acme.secret_key)), 503, "realtime_unavailable")

    monkeypatch.undo()  # back up: the batch sent while down was not counted, the next one is
    with at(T0):
        send.post("/v1/track", {"userId": "b", "event": "Buy"})
        assert read(client, acme)["events"] == 1


def test_a_batch_costs_one_redis_round_trip(send, acme, monkeypatch):
    pipelines = []
    real = realtime.get_redis

    class Counting:
        def pipeline(self, **kwargs):  # noqa: ANN003, ANN201
            pipe = real().pipeline(**kwargs)
            pipelines.append(pipe)
            return pipe

    monkeypatch.setattr(realtime, "get_redis", lambda: Counting())
    with at(T0):
        send.post("/v1/batch", {"batch": [
            {"type": "track" if n % 3 else "page", "userId": f"u{n % 7}", "event": f"E{n % 5}",
             "properties": {"path": f"/p{n % 4}"}} for n in range(200)]})
    assert len(pipelines) == 1
    assert get_redis().get(f"rt:{acme.tenant.schema_name}:{int(T0.timestamp()) // 60 * 60}:n") == b"200"
    assert 0 < get_redis().ttl(f"rt:{acme.tenant.schema_name}:{int(T0.timestamp()) // 60 * 60}:n") <= 35 * 60


# --- the console page ------------------------------------------------------------------------------

PASSWORD = "a-long-console-pass-42"


def console_log_in(client, handle, role: str | None) -> str:  # noqa: ANN001
    """A console user of `handle`'s tenant with `role` (None: staff without any role); logged in."""
    from django.contrib.auth import get_user_model
    from django_tenants.utils import schema_context

    from apps.governance.roles import console_user_create

    username = f"rt-{role or 'nobody'}"
    with schema_context(handle.tenant.schema_name):
        if role is None:
            get_user_model().objects.create_user(username, password=PASSWORD, is_staff=True)
        else:
            console_user_create(username=username, password=PASSWORD, role=role)
    host = f"{handle.tenant.slug}.localhost"
    response = client.post("/admin/login/", {"username": username, "password": PASSWORD, "next": "/admin/"},
                           HTTP_HOST=host)
    assert response.status_code == 302
    return host


def test_the_console_page_shows_the_tenants_figures_to_a_viewer(client, send, acme, globex):
    from apps.governance.roles import ROLE_VIEWER

    with at(T0):
        send.post("/v1/batch", {"batch": [
            {"type": "track", "userId": "a", "event": "<script>alert(1)</script>"},
            {"type": "page", "userId": "b", "properties": {"path": "/pricing?x=<b>"}},
        ]})
        Sender(client, globex.write_key).post("/v1/track", {"userId": "g", "event": "GlobexOnly"})
        host = console_log_in(client, acme, ROLE_VIEWER)
        assert 'href="/admin/realtime/"' in client.get("/admin/", HTTP_HOST=host).content.decode()
        page = client.get("/admin/realtime/", HTTP_HOST=host)
        data = client.get("/admin/realtime/data", HTTP_HOST=host)
        api = read(client, acme)
    html = page.content.decode()
    assert page.status_code == 200
    assert '<p class="figure" id="rt-events">2</p>' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "/pricing?x=&lt;b&gt;" in html
    assert "GlobexOnly" not in html
    assert data.status_code == 200 and data.json() == api
    assert [row["event"] for row in data.json()["top_events"]] == ["$pageview", "<script>alert(1)</script>"]


def test_the_console_page_needs_a_role_and_a_login(client, acme):
    assert client.get("/admin/realtime/", HTTP_HOST="acme.localhost").status_code == 302  # to the login page
    assert client.get("/admin/realtime/data", HTTP_HOST="acme.localhost").status_code == 302
    host = console_log_in(client, acme, None)
    assert client.get("/admin/realtime/", HTTP_HOST=host).status_code == 403
    assert client.get("/admin/realtime/data", HTTP_HOST=host).status_code == 403
    assert 'href="/admin/realtime/"' not in client.get("/admin/", HTTP_HOST=host).content.decode()


def test_the_console_page_says_so_when_redis_is_down(client, acme, monkeypatch):
    from apps.governance.roles import ROLE_VIEWER

    host = console_log_in(client, acme, ROLE_VIEWER)
    unreachable = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    monkeypatch.setattr(realtime, "get_redis", lambda: unreachable)
    page = client.get("/admin/realtime/", HTTP_HOST=host)
    assert page.status_code == 200 and "Real-time figures are unavailable" in page.content.decode()
    assert_error(client.get("/admin/realtime/data", HTTP_HOST=host), 503, "realtime_unavailable")


def test_active_persons_are_exact_not_estimated(client, send, acme):
    with at(T0):
        send.post("/v1/batch", {"batch": [{"type": "track", "userId": f"person-{n}", "event": "Open"}
                                          for n in range(437)]})
        send.post("/v1/batch", {"batch": [{"type": "track", "userId": f"person-{n}", "event": "Open"}
                                          for n in range(400, 480)]})
        body = read(client, acme)
    assert body["active_persons"] == {"last_5_minutes": 480, "last_30_minutes": 480}
    assert body["events"] == 517


def test_switched_off_no_counters_are_kept_and_the_view_says_so(client, send, acme, settings):
    """The seed's ENABLE_REAL_TIME=false: ingestion writes no counters (the last-received time stays,
    for GET /api/v1/status), the endpoint and the console page answer `realtime_disabled`."""
    from apps.governance.roles import ROLE_VIEWER

    settings.ENABLE_REAL_TIME = False
    with at(T0):
        assert send.post("/v1/track", {"userId": "a", "event": "Buy"}).status_code == 200
    assert [e["event"] for e in stored_events(acme.tenant)] == ["Buy"]
    assert [key for key in get_redis().scan_iter(f"rt:{acme.tenant.schema_name}:*")
            if not key.decode().endswith(":last_received")] == []
    assert realtime.last_received_get(schema=acme.tenant.schema_name) is not None
    assert_error(client.get("/api/v1/realtime", **bearer(acme.secret_key)), 404, "realtime_disabled")
    host = console_log_in(client, acme, ROLE_VIEWER)
    page = client.get("/admin/realtime/", HTTP_HOST=host)
    assert page.status_code == 200 and "ENABLE_REAL_TIME=false" in page.content.decode()
    assert_error(client.get("/admin/realtime/data", HTTP_HOST=host), 404, "realtime_disabled")

    settings.ENABLE_REAL_TIME = True
    with at(T0):
        send.post("/v1/track", {"userId": "b", "event": "Buy"})
        assert read(client, acme)["events"] == 1
