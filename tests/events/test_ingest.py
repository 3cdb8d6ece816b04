"""Ingestion over HTTP: formats, auth, validation per event, de-duplication, time correction."""

from __future__ import annotations

import gzip as gzip_module
import json
import tracemalloc
from datetime import datetime, timedelta, timezone

import pytest

from apps.core.redis import get_redis
from tests.events.conftest import stored_events
from tests.helpers import assert_error


def test_segment_track_is_stored_and_answers_200(send, acme):
    response = send.post("/v1/track", {"userId": "u1", "event": "Signed Up", "properties": {"plan": "pro"},
                                       "messageId": "m-1", "timestamp": "2026-11-20T10:00:00Z"})
    assert response.status_code == 200
    assert response.json() == {"accepted": 1, "rejected": []}
    [event] = stored_events(acme.tenant)
    assert (event["event_type"], event["event"], event["distinct_id"], event["user_id"]) == ("track", "Signed Up",
                                                                                             "u1", "u1")
    assert event["properties"] == {"plan": "pro"} and event["message_id"] == "m-1"
    assert event["timestamp"] == datetime(2026, 11, 20, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize("path, body, event_type, event", [
    ("/v1/page", {"anonymousId": "a1", "name": "Home", "properties": {"url": "/"}}, "page", "$pageview"),
    ("/v1/screen", {"anonymousId": "a1", "name": "Main"}, "screen", "$screen"),
    ("/v1/identify", {"userId": "u1", "traits": {"email": "x@y.z"}}, "identify", "$identify"),
    ("/v1/group", {"userId": "u1", "groupId": "g1", "traits": {"name": "Acme"}}, "group", "$group"),
    ("/v1/alias", {"userId": "u1", "previousId": "a1"}, "alias", "$create_alias"),
])
def test_every_segment_call_type(send, acme, path, body, event_type, event):
    assert send.post(path, body).status_code == 200
    [stored] = stored_events(acme.tenant)
    assert (stored["event_type"], stored["event"]) == (event_type, event)


def test_write_key_as_basic_username_and_in_the_body(send, client, acme):
    assert send.post("/v1/track", {"userId": "u", "event": "e"}, auth="basic").status_code == 200
    body = {"batch": [{"type": "track", "userId": "u", "event": "e2"}], "writeKey": acme.write_key}
    assert send.post("/v1/batch", body, auth="none").status_code == 200
    assert [e["event"] for e in stored_events(acme.tenant)] == ["e", "e2"]


def test_segment_batch_with_one_bad_event_stores_the_rest(send, acme):
    body = {"batch": [
        {"type": "track", "userId": "u", "event": "ok-1"},
        {"type": "track", "event": "no ids"},
        {"type": "track", "userId": "u", "event": "ok-2", "properties": "not an object"},
        {"type": "track", "userId": "u", "event": "ok-3"},
    ]}
    response = send.post("/v1/batch", body)
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "rejected": [
        {"index": 1, "error": "userId or anonymousId is required."},
        {"index": 2, "error": "properties must be an object."},
    ]}
    assert [e["event"] for e in stored_events(acme.tenant)] == ["ok-1", "ok-3"]


def test_a_batch_context_is_shared_and_an_item_context_that_is_no_object_is_refused(send, acme):
    body = {"context": {"library": {"name": "batcher"}}, "batch": [
        {"type": "track", "userId": "u", "event": "ok", "context": {"ip": "10.0.0.1"}},
        {"type": "track", "userId": "u", "event": "bad", "context": "ctx"},
    ]}
    response = send.post("/v1/batch", body)
    assert response.status_code == 200
    assert response.json() == {"accepted": 1, "rejected": [{"index": 1, "error": "context must be an object."}]}
    [stored] = stored_events(acme.tenant)
    assert stored["event"] == "ok"
    assert stored["context"]["library"] == {"name": "batcher"} and stored["context"]["ip"] == "10.0.0.1"


def test_gzip_bodies_are_accepted(send, acme):
    body = {"batch": [{"type": "track", "userId": "u", "event": f"e{i}"} for i in range(50)]}
    assert send.post("/v1/batch", body, gzip=True).status_code == 200
    assert len(stored_events(acme.tenant)) == 50


def test_retrying_a_batch_with_the_same_message_ids_stores_each_event_once(send, acme):
    body = {"batch": [{"type": "track", "userId": "u", "event": "e", "messageId": f"id-{i}"} for i in range(10)]}
    for _ in range(3):
        response = send.post("/v1/batch", {**body, "sentAt": datetime.now(timezone.utc).isoformat()})
        assert response.json() == {"accepted": 10, "rejected": []}
    assert len(stored_events(acme.tenant)) == 10
    # Duplicates inside one batch too.
    send.post("/v1/batch", {"batch": [{"type": "track", "userId": "u", "event": "x", "messageId": "dup"}] * 3})
    assert len(stored_events(acme.tenant)) == 11


def test_message_ids_are_per_tenant(send, client, acme, globex):
    from tests.events.conftest import Sender

    body = {"userId": "u", "event": "e", "messageId": "same"}
    assert send.post("/v1/track", body).status_code == 200
    assert Sender(client, globex.write_key).post("/v1/track", body).status_code == 200
    assert len(stored_events(acme.tenant)) == 1 and len(stored_events(globex.tenant)) == 1


def test_sent_at_corrects_client_clock_skew(send, acme):
    now = datetime.now(timezone.utc)
    # The client's clock is 1 hour behind: it stamped the event 10 minutes before sending.
    client_now = now - timedelta(hours=1)
    body = {"batch": [{"type": "track", "userId": "u", "event": "e",
                       "timestamp": (client_now - timedelta(minutes=10)).isoformat()}],
            "sentAt": client_now.isoformat()}
    send.post("/v1/batch", body)
    [event] = stored_events(acme.tenant)
    assert abs(event["timestamp"] - (now - timedelta(minutes=10))) < timedelta(seconds=5)
    assert abs(event["received_at"] - now) < timedelta(seconds=5)


def test_an_event_without_timestamp_gets_the_receive_time(send, acme):
    send.post("/v1/track", {"userId": "u", "event": "e"})
    [event] = stored_events(acme.tenant)
    assert event["timestamp"] == event["received_at"]


def test_native_track_and_batch(send, acme):
    response = send.post("/api/v1/events/track", {"event_type": "click", "event_name": "Buy", "user_id": "u1",
                                                   "session_id": "s1", "properties": {"price": 9.5},
                                                   "message_id": "n-1"})
    assert response.json() == {"accepted": 1, "rejected": []}
    response = send.post("/api/v1/events/batch", {"events": [
        {"event_name": "A", "anonymous_id": "anon"}, {"event_name": "", "user_id": "u"},
        {"event_name": "B", "user_id": "u", "bogus": 1},
    ]})
    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert [r["index"] for r in response.json()["rejected"]] == [1, 2]
    events = stored_events(acme.tenant)
    assert [(e["event_type"], e["event"], e["session_id"]) for e in events] == [("click", "Buy", "s1"),
                                                                                ("track", "A", None)]


# --- bad input: each a 4xx with a reason, never a 5xx ----------------------------------------------------


@pytest.mark.parametrize("message, reason", [
    ({"userId": ["x"], "event": "e"}, "userId must be a string."),
    ({"userId": "u", "event": 42}, "event must be a non-empty string."),
    ({"userId": "u"}, "event must be a non-empty string."),
    ({"event": "e"}, "userId or anonymousId is required."),
    ({"userId": "u", "event": "e", "properties": [1, 2]}, "properties must be an object."),
    ({"userId": "u", "event": "e", "context": "ctx"}, "context must be an object."),
    ({"userId": "u", "event": "e", "properties": {"a": "b\u0000c"}}, "properties.a contains a NUL character."),
    ({"userId": "u", "event": "e", "properties": {"k\u0000": 1}}, "properties has a key with a NUL character."),
    ({"userId": "u\u0000", "event": "e"}, "userId contains a NUL character."),
    ({"userId": "u", "event": "e", "timestamp": "yesterday"}, "timestamp is not a valid ISO 8601 time: 'yesterday'."),
    ({"userId": "u", "event": "e", "timestamp": 1700000000}, "timestamp must be an ISO 8601 string."),
    ({"userId": "u", "event": "e", "timestamp": "1999-01-01T00:00:00Z"},
     "timestamp is older than the tenant's retention (365 days)."),
    ({"userId": "u", "event": "e", "timestamp": "2999-01-01T00:00:00Z"},
     "timestamp is more than 24 hours in the future."),
    ({"userId": "u", "event": "x" * 201}, "event must be at most 200 characters, without NUL."),
    ({"type": "identify", "userId": "u", "event": "e"}, "type must be 'track' on this endpoint."),
])
def test_invalid_single_events_are_400_with_the_reason(send, acme, message, reason):
    error = assert_error(send.post("/v1/track", message), 400, "invalid")
    assert error["message"] == reason
    assert error["details"] == {"accepted": 0, "rejected": [{"index": 0, "error": reason}]}
    assert stored_events(acme.tenant) == []


def test_deep_nesting_is_rejected(send, acme):
    nested: dict = {}
    node = nested
    for _ in range(30):
        node["a"] = {}
        node = node["a"]
    error = assert_error(send.post("/v1/track", {"userId": "u", "event": "e", "properties": nested}), 400, "invalid")
    assert "nested deeper than 20 levels" in error["message"]


def test_absurd_nesting_is_rejected_without_a_server_error(send, acme):
    raw = b'{"userId": "u", "event": "e", "properties": ' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}"
    response = send.post("/v1/track", None, raw=raw)
    assert response.status_code == 400
    assert stored_events(acme.tenant) == []


def test_oversize_event_is_rejected_and_the_rest_stored(send, acme, settings):
    big = {"type": "track", "userId": "u", "event": "big", "properties": {"blob": "x" * 33_000}}
    response = send.post("/v1/batch", {"batch": [big, {"type": "track", "userId": "u", "event": "small"}]})
    assert response.json() == {"accepted": 1, "rejected": [{"index": 0, "error": "The event is larger than 32768 bytes."}]}
    assert [e["event"] for e in stored_events(acme.tenant)] == ["small"]


def test_oversize_body_is_413(send, acme):
    batch = [{"type": "track", "userId": "u", "event": "e", "properties": {"blob": "x" * 30_000}}] * 20
    assert_error(send.post("/v1/batch", {"batch": batch}), 413, "body_too_large")
    assert stored_events(acme.tenant) == []


def test_oversize_gzip_body_is_413_once_inflated(send, acme):
    batch = [{"type": "track", "userId": "u", "event": "e", "properties": {"blob": "x" * 30_000}}] * 20
    assert_error(send.post("/v1/batch", {"batch": batch}, gzip=True), 413, "body_too_large")
    assert stored_events(acme.tenant) == []


def test_a_gzip_bomb_is_refused_without_being_inflated(send, acme):
    """A real bomb: 200 MB of JSON in a body of about 200 KB (over 1,000:1). It is refused with
    413, and inflating stops at the body limit: the request never holds more than a few MB."""
    prefix = b'{"batch": [{"type": "track", "userId": "u", "event": "e"}], "pad": "'
    inflated = 200 * 1024 * 1024
    bomb = gzip_module.compress(prefix + b" " * (inflated - len(prefix) - 2) + b'"}', compresslevel=9)
    assert inflated / len(bomb) > 1_000
    tracemalloc.start()
    try:
        response = send.post("/v1/batch", None, raw=bomb, headers={"HTTP_CONTENT_ENCODING": "gzip"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_error(response, 413, "body_too_large")
    assert peak < 8 * 1024 * 1024, f"the request held {peak} bytes while refusing the bomb"
    assert stored_events(acme.tenant) == []


def test_too_many_events_is_413(send, acme):
    batch = [{"type": "track", "userId": "u", "event": "e"}] * 1001
    assert_error(send.post("/v1/batch", {"batch": batch}), 413, "too_many_events")
    assert stored_events(acme.tenant) == []


@pytest.mark.parametrize("raw, gzip, code", [
    (b"{not json", False, "malformed_request"),
    (b"", False, "malformed_request"),
    (b"\x1f\x8b\x08\x00garbage", False, "malformed_request"),
    (b'{"batch": "nope"}', False, "malformed_request"),
    (b'{"batch": []}', False, "malformed_request"),
    (b"[1, 2]", False, "malformed_request"),
])
def test_unreadable_bodies_are_400(send, acme, raw, gzip, code):
    assert_error(send.post("/v1/batch", None, raw=raw, gzip=gzip), 400, code)
    assert stored_events(acme.tenant) == []


def test_bad_gzip_is_400(send, acme):
    response = send.post("/v1/batch", None, raw=b"definitely not gzip", headers={"HTTP_CONTENT_ENCODING": "gzip"})
    assert_error(response, 400, "malformed_request")


def test_unknown_content_encoding_is_415(send, acme):
    response = send.post("/v1/batch", {"batch": [{"type": "track", "userId": "u", "event": "e"}]},
                         headers={"HTTP_CONTENT_ENCODING": "br"})
    assert_error(response, 415, "unsupported_encoding")


def test_wrong_missing_and_revoked_keys_are_401(client, acme):
    from apps.tenancy.services import api_key_revoke
    from tests.events.conftest import Sender

    body = {"batch": [{"type": "track", "userId": "u", "event": "e"}]}
    assert_error(Sender(client, "wk_" + "x" * 40).post("/v1/batch", body), 401, "unauthenticated")
    assert_error(Sender(client, "").post("/v1/batch", body, auth="none"), 401, "unauthenticated")
    assert_error(Sender(client, "").post("/v1/batch", {**body, "writeKey": "wk_nope"}, auth="none"), 401,
                 "unauthenticated")
    api_key_revoke(prefix=acme.write_key[:11])
    assert_error(Sender(client, acme.write_key).post("/v1/batch", body), 401, "unauthenticated")
    assert stored_events(acme.tenant) == []


def test_write_key_on_read_endpoints_is_403(client, acme):
    from tests.helpers import bearer

    for path in ("/api/v1/events", "/api/v1/persons", "/api/v1/persons/u1", "/api/v1/events/export"):
        assert_error(client.get(path, **bearer(acme.write_key)), 403, "forbidden")


def test_get_on_an_ingestion_path_is_405(send, client, acme):
    from tests.helpers import bearer

    assert client.get("/v1/track", **bearer(acme.write_key)).status_code == 405


# --- limits -------------------------------------------------------------------------------------------------


def test_monthly_quota_answers_429_with_retry_after(make_tenant, client):
    from tests.events.conftest import Sender

    small = make_tenant("small", monthly_event_quota=3)
    sender = Sender(client, small.write_key)
    body = {"batch": [{"type": "track", "userId": "u", "event": "e"}] * 2}
    assert sender.post("/v1/batch", body).status_code == 200
    response = sender.post("/v1/batch", body)
    assert_error(response, 429, "quota_exceeded")
    assert int(response["Retry-After"]) > 0
    assert len(stored_events(small.tenant)) == 2


def test_rate_limit_per_key_answers_429(send, acme, settings):
    settings.INGEST_RATE_LIMIT_PER_SECOND = 2
    codes = [send.post("/v1/track", {"userId": "u", "event": "e"}).status_code for _ in range(6)]
    assert 429 in codes
    assert codes.count(200) >= 2


def test_ingestion_still_stores_when_redis_is_down(send, acme, settings):
    from apps.events.limits import LIMITS_UNAVAILABLE

    before = LIMITS_UNAVAILABLE._value.get()
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    get_redis.cache_clear()
    try:
        assert send.post("/v1/track", {"userId": "u", "event": "e"}).status_code == 200
    finally:
        get_redis.cache_clear()
    assert len(stored_events(acme.tenant)) == 1
    assert LIMITS_UNAVAILABLE._value.get() > before


def test_cors_preflight_and_response_headers(client, send, acme):
    preflight = client.options("/v1/batch", HTTP_ORIGIN="https://shop.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                               HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type")
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == "*"
    response = send.post("/v1/track", {"userId": "u", "event": "e"}, headers={"HTTP_ORIGIN": "https://shop.example"})
    assert response["Access-Control-Allow-Origin"] == "*"
    # Not on the tenant API.
    api = client.options("/api/v1/events", HTTP_ORIGIN="https://shop.example",
                         HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert "Access-Control-Allow-Origin" not in api


def test_response_body_is_json(send, acme):
    response = send.post("/v1/track", {"userId": "u", "event": "e"})
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {"accepted": 1, "rejected": []}


# --- PostHog capture (v0) ----------------------------------------------------------------------------------


def test_posthog_batch_with_api_key_in_the_body(send, acme):
    body = {"api_key": acme.write_key, "batch": [
        {"event": "$pageview", "distinct_id": "d1", "properties": {"$current_url": "/"}, "uuid": "u-1"},
        {"event": "clicked", "properties": {"distinct_id": "d1", "button": "buy"}},
        {"event": "no id"},
    ]}
    response = send.post("/batch/", body, auth="none", gzip=True)
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "rejected": [{"index": 2, "error": "distinct_id is required."}]}
    events = stored_events(acme.tenant)
    assert [(e["event_type"], e["event"], e["distinct_id"]) for e in events] == [("page", "$pageview", "d1"),
                                                                                 ("track", "clicked", "d1")]
    assert events[1]["properties"] == {"button": "buy"}


def test_posthog_capture_single_event_and_e_list(send, acme):
    assert send.post("/capture/", {"api_key": acme.write_key, "event": "one", "distinct_id": "d"},
                     auth="none").status_code == 200
    assert send.post("/e/", [{"event": "two", "distinct_id": "d"}]).status_code == 200
    assert [e["event"] for e in stored_events(acme.tenant)] == ["one", "two"]


def test_posthog_set_and_set_once(send, client, acme):
    from tests.helpers import bearer

    send.post("/batch/", {"batch": [
        {"event": "$set", "distinct_id": "d", "$set": {"plan": "free"}, "$set_once": {"first_seen": "mon"}},
        {"event": "x", "distinct_id": "d", "properties": {"$set": {"plan": "pro"}, "$set_once": {"first_seen": "tue"}}},
    ]})
    person = client.get("/api/v1/persons/d", **bearer(acme.secret_key)).json()
    assert person["traits"] == {"plan": "pro", "first_seen": "mon"}


def test_the_text_backslash_u0000_is_not_a_nul(send, acme):
    text = "C:\\u0000dir \\\\u0000"  # backslashes followed by "u0000": ordinary characters
    assert send.post("/v1/track", {"userId": "u", "event": "e", "properties": {"path": text}}).status_code == 200
    assert stored_events(acme.tenant)[0]["properties"] == {"path": text}


def test_platform_usage_counts_this_months_events(send, client, acme, globex, platform_headers):
    send.post("/v1/batch", {"batch": [{"type": "track", "userId": "u", "event": "e"}] * 3})
    body = client.get("/platform/v1/tenants/acme/usage", **platform_headers).json()
    assert body["tenant"] == "acme" and body["events"] == 3 and body["monthly_event_quota"] == 10_000_000
    assert body["month"] == datetime.now(timezone.utc).strftime("%Y-%m")
    assert client.get("/platform/v1/tenants/globex/usage", **platform_headers).json()["events"] == 0
    assert_error(client.get("/platform/v1/tenants/acme/usage", HTTP_AUTHORIZATION=f"Bearer {acme.secret_key}"),
                 401, "unauthenticated")
