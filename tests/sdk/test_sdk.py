"""The async SDK (`sdk/python`, package analytics_sdk) against the real server on loopback: every
method, typed results and errors, and delivery through 429s, an outage and lost answers, with no
event lost and none stored twice."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from analytics_sdk import AnalyticsClient, SyncAnalyticsClient, errors
from django.db import connection
from django_tenants.utils import schema_context

from tests.sdk.conftest import stored_events

NOW = datetime.now(timezone.utc)


def run(coroutine):  # noqa: ANN001, ANN201
    return asyncio.run(coroutine)


def metric_values(tenant) -> list[tuple[str, float]]:  # noqa: ANN001
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT m.name, v.value FROM metric_values v JOIN metrics m ON m.id = v.metric_id "
                       "ORDER BY m.name, v.value")
        return cursor.fetchall()


def test_every_ingestion_method_stores_what_it_sent(sdk_tenant, host):
    async def main() -> None:
        async with AnalyticsClient(api_key=sdk_tenant.secret_key, host=host) as client:
            await client.metrics.create_metric("api.latency", "histogram", unit="ms", dimensions=["route"])
            await client.metrics.create_metric("signups", "counter")
            await client.metrics.create_metric("queue.depth", "gauge")
        async with AnalyticsClient(api_key=sdk_tenant.write_key, host=host, flush_interval=0.05) as client:
            ids = [
                await client.events.track("Signed Up", distinct_id="ann", properties={"plan": "pro"}),
                await client.events.track_page_view("https://example.com/pricing", anonymous_id="anon-1",
                                                    title="Pricing"),
                await client.events.track_click("buy-button", distinct_id="ann"),
                await client.events.track_conversion("Purchase", distinct_id="ann", value=49.0, currency="EUR"),
                await client.events.identify("ann", {"email": "ann@example.com"}, anonymous_id="anon-1"),
                await client.events.alias("anon-2", "ann"),
            ]
            assert len(set(ids)) == 6
            await client.metrics.record_value("api.latency", 120.5, dimensions={"route": "/a"})
            await client.metrics.record_values([{"metric": "api.latency", "value": 80.0},
                                                {"metric": "api.latency", "value": 95.0}])
            await client.metrics.increment("signups")
            await client.metrics.increment("signups", by=2)
            await client.metrics.set_gauge("queue.depth", 7)
            await client.metrics.record_timing("api.latency", 33)
            await client.flush()
            assert client.stats.failed == 0 and client.stats.dropped == 0

    run(main())
    with schema_context(sdk_tenant.tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT event_type, event, distinct_id, properties FROM events ORDER BY timestamp")
        rows = cursor.fetchall()
        cursor.execute("SELECT traits FROM persons WHERE traits ? 'email'")
        traits = [json.loads(row[0]) for row in cursor.fetchall()]
        cursor.execute("SELECT count(DISTINCT person_id) FROM person_distinct_ids "
                       "WHERE distinct_id IN ('ann', 'anon-1', 'anon-2')")
        persons = cursor.fetchone()[0]
    assert [(kind, event) for kind, event, _, _ in rows] == [
        ("track", "Signed Up"), ("page", "$pageview"), ("click", "$click"), ("conversion", "Purchase"),
        ("identify", "$identify"), ("alias", "$create_alias")]
    properties = {event: json.loads(props) for _, event, _, props in rows}
    assert properties["$pageview"] == {"url": "https://example.com/pricing", "title": "Pricing"}
    assert properties["$click"] == {"element": "buy-button"}
    assert properties["Purchase"] == {"value": 49.0, "currency": "EUR"}
    assert traits == [{"email": "ann@example.com"}]
    assert persons == 1  # identify merged anon-1 into ann, alias anon-2
    assert metric_values(sdk_tenant.tenant) == [
        ("api.latency", 33.0), ("api.latency", 80.0), ("api.latency", 95.0), ("api.latency", 120.5),
        ("queue.depth", 7.0), ("signups", 1.0), ("signups", 2.0)]


def test_secret_key_resources_answer_typed_results(sdk_tenant, host, settings):
    async def main() -> None:
        async with AnalyticsClient(api_key=sdk_tenant.write_key, secret_key=sdk_tenant.secret_key, host=host,
                                   flush_interval=0.05) as client:
            tenant = await client.tenant.get()
            assert tenant.slug == sdk_tenant.slug
            for n in range(5):
                await client.events.track("View", distinct_id=f"u{n}", timestamp=NOW - timedelta(hours=2))
            for n in range(3):
                await client.events.track("Buy", distinct_id=f"u{n}", timestamp=NOW - timedelta(hours=1))
            metric = await client.metrics.create_metric("latency", "histogram")
            assert metric.name == "latency" and metric.metric_type == "histogram"
            assert (await client.metrics.get_metric("latency")).raw == metric.raw
            await client.metrics.record_values([{"metric": "latency", "value": v} for v in (10, 20, 30)])
            await client.flush()

            aggregate = await client.metrics.aggregate("latency", aggregation="avg", date_from="-1d")
            assert aggregate.raw["series"] and sum(v for v in aggregate.raw["series"][0]["values"] if v) > 0
            trends = await client.query.trends([{"event": "View"}], date_from="-1d", interval="day")
            assert sum(trends.raw["series"][0]["values"]) == 5
            funnel = await client.query.funnel([{"event": "View"}, {"event": "Buy"}], date_from="-1d")
            assert [s["count"] for s in funnel.raw["steps"]] == [5, 3]
            retention = await client.query.retention("View", "Buy", date_from="-2d", period="day", periods=1)
            assert retention.raw["kind"] == "retention"

            dashboard = await client.dashboards.create_dashboard("ops", display_name="Ops")
            widget = await client.dashboards.create_widget(
                dashboard.id, "views", "line", {"kind": "trends", "series": [{"event": "View"}], "date_from": "-1d"})
            data = await client.dashboards.data(dashboard.id)
            assert widget.name == "views" and data.raw["widgets"][0]["result"]["kind"] == "trends"
            assert [w["name"] for w in (await client.dashboards.get_dashboard(dashboard.id)).widgets] == ["views"]

            segment = await client.segments.create_segment("viewers")
            segment = await client.segments.add_segment_rule(segment.id, {"event": "View", "operator": "gte",
                                                                          "value": 1})
            assert segment.size == 5
            first = await client.segments.members(segment.id, limit=3)
            rest = await client.segments.members(segment.id, cursor=first.next)
            assert rest.next is None
            assert sorted(p.distinct_ids[0] for p in first.results + rest.results) == [f"u{n}" for n in range(5)]

            report = await client.reports.create_report(
                "daily", "queries", display_name="Daily",
                query_config={"queries": [{"name": "views", "query": {"kind": "trends",
                                                                       "series": [{"event": "View"}]}}]})
            subscription = await client.reports.subscribe_to_report(report.id, "ann@example.com", user_id="u1")
            assert subscription.email == "ann@example.com"
            run_ = await client.reports.run(report.id, send=True)
            for _ in range(50):  # the live server's worker is eager: the run is done by the answer, or soon
                run_ = await client.reports.get_run(run_.id)
                if run_.status == "succeeded":
                    break
                await asyncio.sleep(0.1)
            assert run_.status == "succeeded"
            assert [r.id for r in await client.reports.runs(report.id)] == [run_.id]

    run(main())


def test_errors_are_typed(sdk_tenant, host, proxy):
    async def main() -> None:
        async with AnalyticsClient(api_key="sk_nope", host=host) as client:
            with pytest.raises(errors.AuthenticationError) as caught:
                await client.tenant.get()
            assert caught.value.status == 401
        async with AnalyticsClient(api_key=sdk_tenant.write_key, host=host) as client:
            with pytest.raises(errors.PermissionDeniedError):
                await client.metrics.create_metric("x", "gauge")
        async with AnalyticsClient(api_key=sdk_tenant.secret_key, host=host) as client:
            with pytest.raises(errors.ValidationError) as caught:
                await client.query.run({"kind": "trends", "series": [{"event": "x", "math": "nope"}]})
            assert caught.value.code == "invalid" and caught.value.details
            with pytest.raises(errors.NotFoundError):
                await client.reports.get_run(999999)
            await client.metrics.create_metric("dup", "gauge")
            with pytest.raises(errors.ConflictError):
                await client.metrics.create_metric("dup", "gauge")
        async with AnalyticsClient(api_key=sdk_tenant.secret_key, host=proxy.url, max_retries=1,
                                   backoff_base=0.01) as client:
            proxy.faults.status, proxy.faults.status_count, proxy.faults.retry_after = 429, 10, "7"
            with pytest.raises(errors.RateLimitError) as caught:
                await client.tenant.get()
            assert caught.value.retry_after == 7
            proxy.faults.status, proxy.faults.status_count, proxy.faults.retry_after = 503, 10, None
            with pytest.raises(errors.ServerError) as caught:
                await client.tenant.get()
            assert caught.value.status == 503
            proxy.down()
            with pytest.raises(errors.TransportError):
                await client.tenant.get()

    run(main())


def send_many(client, count: int, prefix: str):  # noqa: ANN001, ANN201
    async def go() -> list[str]:
        return [await client.events.track("Tick", distinct_id=f"{prefix}{n % 50}", properties={"n": n})
                for n in range(count)]

    return go()


def test_429_then_200_loses_nothing(sdk_tenant, proxy):
    proxy.faults.status, proxy.faults.status_count, proxy.faults.retry_after = 429, 3, "1"

    async def main() -> list[str]:
        async with AnalyticsClient(api_key=sdk_tenant.write_key, host=proxy.url, flush_at=100,
                                   backoff_base=0.05) as client:
            ids = await send_many(client, 500, "u")
        assert client.stats.retries >= 3 and client.stats.failed == 0
        return ids

    started = time.monotonic()
    ids = run(main())
    assert time.monotonic() - started >= 1  # Retry-After: 1 was honoured
    assert sorted(m for _, m in stored_events(sdk_tenant.tenant)) == sorted(ids)


def test_a_server_down_for_a_while_loses_nothing(sdk_tenant, proxy):
    async def main() -> list[str]:
        async with AnalyticsClient(api_key=sdk_tenant.write_key, host=proxy.url, flush_at=50, flush_interval=0.05,
                                   backoff_base=0.05, backoff_max=0.5, max_retries=50) as client:
            ids = await send_many(client, 300, "a")
            await client.flush()
            proxy.down()
            ids += await send_many(client, 400, "b")  # queued and retried while nothing listens
            await asyncio.sleep(1.5)
            assert client.stats.retries > 0
            proxy.up()
            ids += await send_many(client, 300, "c")
        assert client.stats.failed == 0 and client.stats.dropped == 0
        return ids

    ids = run(main())
    stored = [m for _, m in stored_events(sdk_tenant.tenant)]
    assert len(stored) == len(set(stored)) == 1000 and sorted(stored) == sorted(ids)


def test_answers_lost_after_the_server_stored_a_batch_do_not_duplicate(sdk_tenant, host, proxy):
    async def main() -> list[str]:
        async with AnalyticsClient(api_key=sdk_tenant.secret_key, host=host) as client:
            await client.metrics.create_metric("jobs", "counter")
        async with AnalyticsClient(api_key=sdk_tenant.write_key, host=proxy.url, flush_at=100,
                                   backoff_base=0.05) as client:
            proxy.faults.lose_answers = 3  # the server stores each of these; the client never hears back
            ids = await send_many(client, 250, "u")
            await client.flush()
            for n in range(120):
                await client.metrics.increment("jobs", by=n)
            proxy.faults.lose_answers = 1
        assert client.stats.failed == 0 and client.stats.retries >= 4
        return ids

    ids = run(main())
    stored = [m for _, m in stored_events(sdk_tenant.tenant)]
    assert len(stored) == 250 and sorted(stored) == sorted(ids)
    jobs = [value for name, value in metric_values(sdk_tenant.tenant) if name == "jobs"]
    assert sorted(jobs) == [float(n) for n in range(120)]


def test_a_full_queue_follows_the_stated_policy(sdk_tenant, proxy):
    proxy.down()

    async def main() -> None:
        client = AnalyticsClient(api_key=sdk_tenant.write_key, host=proxy.url, max_queue=10, on_full="drop_newest",
                                 flush_at=1000, flush_interval=60, max_retries=0)
        for n in range(15):
            await client.events.track("E", distinct_id="u")
        assert client.stats.dropped == 5
        raising = AnalyticsClient(api_key=sdk_tenant.write_key, host=proxy.url, max_queue=3, on_full="raise",
                                  flush_at=1000, flush_interval=60, max_retries=0)
        for n in range(3):
            await raising.events.track("E", distinct_id="u")
        with pytest.raises(errors.QueueFullError):
            await raising.events.track("E", distinct_id="u")
        proxy.up()
        await client.aclose()
        await raising.aclose()
        assert client.stats.sent == 10 and raising.stats.sent == 3

    run(main())
    assert len(stored_events(sdk_tenant.tenant)) == 13


def test_the_sync_facade(sdk_tenant, host):
    with SyncAnalyticsClient(api_key=sdk_tenant.write_key, secret_key=sdk_tenant.secret_key, host=host) as client:
        client.events.track("Script Ran", distinct_id="cron")
        client.flush()
        assert client.tenant.get().slug == sdk_tenant.slug
    assert [event for event, _ in stored_events(sdk_tenant.tenant)] == ["Script Ran"]
