"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

from apps.core.redis import get_redis
from tests.helpers import bearer


def test_live_answers_on_public_and_tenant_hosts(client, acme):
    for host in ("localhost", "acme.localhost"):
        response = client.get("/health/live", HTTP_HOST=host)
        assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_ready_checks_postgres_and_redis(client, db):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"postgres": "ok", "redis": "ok"}}


def test_ready_is_degraded_but_up_when_redis_is_unreachable(client, db, settings):
    """Ingestion and queries work without Redis: the pod stays in the load balancer."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    get_redis.cache_clear()
    try:
        response = client.get("/health/ready")
    finally:
        get_redis.cache_clear()
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "checks": {"postgres": "ok", "redis": "unreachable"}}


def test_metrics_count_requests_by_route_pattern(client, api_client, acme):
    api_client.get("/api/v1/tenant", **bearer(acme.secret_key))
    api_client.get("/api/v1/tenant")
    body = client.get("/metrics").content.decode()
    assert 'http_requests_total{method="GET",route="api/v1/tenant",status="200"}' in body
    assert 'route="unmatched",status="401"' in body
    assert "http_request_duration_seconds_bucket" in body
