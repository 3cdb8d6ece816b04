"""Every error on an API path is the JSON error body, in every environment; trailing slashes;
/health/ and /health/detailed; /metrics bounded and kept from proxied clients."""

from __future__ import annotations

import pytest

from tests.helpers import assert_error, bearer


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_paths_answer_the_json_error_body(client, acme, settings, debug):
    settings.DEBUG = debug
    for path in ("/api/v1/nothing-here", "/api/v1/events/nope/deeper", "/platform/v1/nope", "/v1/nope"):
        response = client.get(path, **bearer(acme.secret_key))
        assert_error(response, 404, "not_found")
    assert_error(client.get("/api/nothing"), 404, "not_found")


@pytest.mark.parametrize("debug", [False, True])
def test_an_oversized_api_body_is_a_json_413(client, acme, settings, debug):
    settings.DEBUG = debug
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = '{"kind": "trends", "series": [{"event": "' + "x" * 5000 + '"}]}'
    response = client.post("/api/v1/query", body, content_type="application/json", **bearer(acme.secret_key))
    assert_error(response, 413, "body_too_large")


def test_malformed_json_and_a_wrong_method_answer_json(client, acme):
    response = client.post("/api/v1/query", "{not json", content_type="application/json", **bearer(acme.secret_key))
    assert_error(response, 400, "malformed_request")
    response = client.get("/v1/track", **bearer(acme.write_key))
    error = assert_error(response, 405, "method_not_allowed")
    assert error and response["Allow"] == "POST"


def test_a_trailing_slash_reaches_the_same_endpoint(client, acme):
    plain = client.get("/api/v1/metrics", **bearer(acme.secret_key))
    slashed = client.get("/api/v1/metrics/", **bearer(acme.secret_key))
    assert plain.status_code == slashed.status_code == 200
    assert slashed.json() == plain.json()
    created = client.post("/api/v1/metrics/", {"name": "response_time", "metric_type": "histogram"},
                          content_type="application/json", **bearer(acme.secret_key))
    assert created.status_code == 201, created.content
    assert client.get("/api/v1/metrics/response_time/", **bearer(acme.secret_key)).json()["name"] == "response_time"


def test_health_and_health_detailed(client, db):
    response = client.get("/health/")
    assert response.status_code == 200 and response.json()["status"] == "ok"
    detailed = client.get("/health/detailed")
    assert detailed.status_code == 200
    body = detailed.json()
    assert body["status"] == "ok"
    for name in ("database", "redis"):
        assert body["checks"][name]["status"] == "ok"
        assert isinstance(body["checks"][name]["latency_ms"], float)
    assert body["checks"]["database"]["version"]
    assert isinstance(body["checks"]["redis"]["queue_depth"], int)
    assert client.get("/health/ready/").status_code == 200


def test_health_detailed_is_degraded_without_redis(client, db, settings):
    from apps.core.redis import get_redis

    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    get_redis.cache_clear()
    try:
        body = client.get("/health/detailed").json()
    finally:
        get_redis.cache_clear()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"]["status"] == "down" and body["checks"]["database"]["status"] == "ok"


def test_metrics_labels_unknown_methods_as_other(client, db):
    client.generic("BREWCOFFEE", "/health/live")
    client.generic("X" * 40, "/health/live")
    body = client.get("/metrics").content.decode()
    assert "BREWCOFFEE" not in body and "X" * 40 not in body
    assert 'method="other",route="health/live",status="405"' in body


def test_metrics_refuses_proxied_requests_and_checks_its_token(client, db, settings):
    assert client.get("/metrics").status_code == 200
    assert_error(client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9"), 404, "not_found")
    settings.METRICS_TOKEN = "scrape-secret"
    assert_error(client.get("/metrics"), 401, "unauthenticated")
    assert_error(client.get("/metrics", **bearer("wrong")), 401, "unauthenticated")
    assert client.get("/metrics", **bearer("scrape-secret"), HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 200
