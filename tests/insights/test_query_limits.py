"""What one request may cost: one time budget for all its statements, capped ranges, a per-key
request rate, concurrent queries per tenant, and share pages served from cache while they refresh."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from django_tenants.utils import schema_context

from apps.core import throttle
from apps.core.exceptions import Unavailable
from apps.core.redis import get_redis
from apps.insights import budget
from apps.insights.engine import query_run
from tests.helpers import assert_error, bearer
from tests.insights.test_query_api import ingest

NOW = datetime.now(timezone.utc).replace(microsecond=0)
DAY_BEFORE = (NOW - timedelta(days=2)).date().isoformat()
DAY_AFTER = (NOW + timedelta(days=2)).date().isoformat()
TRENDS = {"kind": "trends", "date_from": DAY_BEFORE, "date_to": DAY_AFTER, "interval": "day",
          "series": [{"event": "View"}, {"event": "Buy"}]}


@pytest.fixture(autouse=True)
def _fresh_throttles():
    redis = get_redis()
    for key in redis.scan_iter("throttle:*"):
        redis.delete(key)
    yield


def post(client, key: str, spec: dict):  # noqa: ANN001, ANN201
    return client.post("/api/v1/query", json.dumps(spec), content_type="application/json", **bearer(key))


def test_a_spent_request_budget_refuses_the_next_statement(acme):
    with schema_context(acme.tenant.schema_name), budget.request_budget(1):
        time.sleep(0.01)
        with pytest.raises(Unavailable) as raised:
            query_run(data={**TRENDS, "refresh": True}, tenant=acme.tenant)
    assert raised.value.code == "query_timeout"
    # Outside a request, a statement has the whole per-statement limit.
    with schema_context(acme.tenant.schema_name):
        assert query_run(data=TRENDS, tenant=acme.tenant)["kind"] == "trends"


def test_the_budget_is_shared_by_every_series_of_a_request(acme, settings):
    """A statement's timeout is what the request has left, not QUERY_TIMEOUT_MS each."""
    settings.QUERY_TIMEOUT_MS = 60000
    with budget.request_budget(2000):
        first = budget.statement_timeout_ms()
        time.sleep(0.3)
        second = budget.statement_timeout_ms()
    assert first <= 2000 and second <= first - 250


def test_dashboard_widgets_past_the_budget_answer_query_timeout(client, acme, settings):
    ingest(acme.tenant, [{"type": "track", "anonymousId": "a", "event": "View", "timestamp": NOW.isoformat()}])
    dashboard = client.post("/api/v1/dashboards", json.dumps({"name": "d"}), content_type="application/json",
                            **bearer(acme.secret_key)).json()
    for n in range(3):
        client.post(f"/api/v1/dashboards/{dashboard['id']}/widgets", json.dumps(
            {"name": f"w{n}", "widget_type": "line", "query_config": TRENDS}), content_type="application/json",
            **bearer(acme.secret_key))
    settings.QUERY_REQUEST_BUDGET_MS = 100
    original = budget.statement_timeout_ms
    calls = []

    def slow_timeout() -> int:  # the first widget uses up the budget
        if not calls:
            time.sleep(0.15)
        calls.append(1)
        return original()

    budget.statement_timeout_ms = slow_timeout
    try:
        body = client.get(f"/api/v1/dashboards/{dashboard['id']}/data?refresh=true", **bearer(acme.secret_key)).json()
    finally:
        budget.statement_timeout_ms = original
    assert [w.get("error", {}).get("code") for w in body["widgets"]] == ["query_timeout"] * 3


def test_funnels_and_other_kinds_refuse_ranges_past_the_cap(client, acme, settings):
    settings.QUERY_MAX_RANGE_DAYS = 400
    funnel = {"kind": "funnel", "date_from": "2020-01-01", "date_to": "2026-01-01",
              "steps": [{"event": "View"}, {"event": "Buy"}]}
    assert_error(post(client, acme.secret_key, funnel), 400, "invalid")
    assert_error(post(client, acme.secret_key, {"kind": "funnel", "date_from": "1000-01-01", "date_to": "9000-01-01",
                                                "steps": [{"event": "View"}, {"event": "Buy"}]}), 400, "invalid")
    ok = post(client, acme.secret_key, {**funnel, "date_from": "2025-06-01"})
    assert ok.status_code == 200
    assert_error(post(client, acme.secret_key, {"kind": "events", "date_from": "2020-01-01"}), 400, "invalid")


def test_query_requests_per_key_are_rate_limited(client, acme, globex, settings):
    settings.QUERY_RATE_LIMIT_PER_MINUTE = 2
    assert post(client, acme.secret_key, TRENDS).status_code == 200
    assert post(client, acme.secret_key, TRENDS).status_code == 200
    refused = post(client, acme.secret_key, TRENDS)
    assert_error(refused, 429, "rate_limited")
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert_error(client.get("/api/v1/metrics/x/aggregate", **bearer(acme.secret_key)), 429, "rate_limited")
    # Another key (another tenant's) has its own window.
    assert post(client, globex.secret_key, TRENDS).status_code == 200


def test_concurrent_queries_per_tenant_are_bounded(client, acme, globex, settings):
    settings.QUERY_CONCURRENCY_PER_TENANT = 1
    with throttle.slot(key=f"queries:{acme.tenant.schema_name}", limit=1, lease_seconds=30, what="queries"):
        refused = post(client, acme.secret_key, {**TRENDS, "refresh": True})
        assert_error(refused, 429, "rate_limited")
        assert refused["Retry-After"] == "1"
        assert post(client, globex.secret_key, {**TRENDS, "refresh": True}).status_code == 200
    assert post(client, acme.secret_key, {**TRENDS, "refresh": True}).status_code == 200


def test_a_share_page_is_served_from_cache_while_it_refreshes(client, acme, settings):
    ingest(acme.tenant, [{"type": "track", "anonymousId": "a", "event": "View", "timestamp": NOW.isoformat()}])
    dashboard = client.post("/api/v1/dashboards", json.dumps({"name": "d"}), content_type="application/json",
                            **bearer(acme.secret_key)).json()
    client.post(f"/api/v1/dashboards/{dashboard['id']}/widgets", json.dumps(
        {"name": "views", "widget_type": "number",
         "query_config": {**TRENDS, "series": [{"event": "View"}]}}), content_type="application/json",
        **bearer(acme.secret_key))
    token = client.post(f"/api/v1/dashboards/{dashboard['id']}/share", **bearer(acme.secret_key)).json()["token"]

    def shown() -> object:
        page = client.get(f"/d/{token}")
        assert page.status_code == 200
        payload = page.content.decode().split('id="dashboard-views" type="application/json">', 1)[1]
        return json.loads(payload.split("</script>", 1)[0])[0]["value"]

    settings.SHARE_PAGE_REFRESH_SECONDS = 3600
    first = shown()
    assert first == 1
    ingest(acme.tenant, [{"type": "track", "anonymousId": who, "event": "View", "timestamp": NOW.isoformat(),
                          "messageId": f"later-{who}"} for who in ("b", "c")])
    assert shown() == first  # fresh enough: the cached data, no query
    settings.SHARE_PAGE_REFRESH_SECONDS = 0
    assert shown() == first  # stale: still served, a refresh is queued (eager here: it ran)
    assert shown() == 3
