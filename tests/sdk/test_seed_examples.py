"""The SDK examples of seed 002 (the dotmac_analytics README: "Basic Usage", "Configuration File",
"SDK Reference", "Examples"), copied as they are with only the package renamed, run against the live
server; each test then checks the example's effect through the API (counts, aggregates, segment
members, report runs and the mail that arrived).

The examples take their key and host from ANALYTICS_API_KEY and ANALYTICS_HOST, set here to a fresh
tenant's secret key and the live server. Their tenant ids are the tenants' slugs: the tenant made
for "isp_tenant" is `isp-tenant` (slugs have `-` where the ids have `_`), so the client's check
that the key belongs to the tenant passes. The "SDK Reference" blocks use names they do not define
(`client`, `start_time`, `end_time`, the enums): the namespace supplies them, as a program around
those snippets would. Its `await client.events.track(...)` lines are placeholders (`...`) and are
not run."""

from __future__ import annotations

import ast
import asyncio
import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
from analytics_sdk import AnalyticsClient, errors
from analytics_sdk.models import enums
from django.db import connection
from django_tenants.utils import schema_context

from apps.tenancy.models import Tenant
from apps.tenancy.services import tenant_create
from tests.conftest import TenantHandle
from tests.reports.test_delivery import inbox  # noqa: F401 - the SMTP server fixture

BASIC_USAGE = '''
import asyncio
from analytics_sdk import AnalyticsClient
from analytics_sdk.models.enums import EventType, MetricType

async def main():
    # Initialize client
    async with AnalyticsClient("your_tenant_id") as client:
        # Track events
        await client.events.track_page_view(
            page_url="/dashboard",
            user_id="user_123"
        )
        
        # Create metrics
        await client.metrics.create_metric(
            name="active_users",
            display_name="Active Users",
            metric_type=MetricType.GAUGE
        )
        
        # Record metric values
        await client.metrics.set_gauge("active_users", 150)

asyncio.run(main())
'''

CONFIGURATION_FILE = '''
from analytics_sdk.core.config import AnalyticsConfig

config = AnalyticsConfig(
    environment="production",
    database=AnalyticsConfig.DatabaseConfig(
        url="postgresql://localhost/analytics",
        pool_size=20
    ),
    processing=AnalyticsConfig.ProcessingConfig(
        batch_size=5000,
        max_workers=8
    )
)
'''

# "SDK Reference" / AnalyticsClient: the lines that run (the others call methods with `...`).
REFERENCE_CLIENT = '''
from analytics_sdk import AnalyticsClient

# Initialize with tenant ID
client = AnalyticsClient("tenant_123")
'''

REFERENCE_EVENTS = '''
# Track events
await client.events.track(
    event_type=EventType.PAGE_VIEW,
    event_name="home_page",
    user_id="user_123",
    properties={"referrer": "google.com"}
)

# Convenience methods
await client.events.track_page_view("/home", user_id="user_123")
await client.events.track_click("button_1", user_id="user_123")
await client.events.track_conversion("purchase", value=99.99)

# Query events
events = await client.events.get_events(
    event_type=EventType.PAGE_VIEW,
    start_time=datetime.now(timezone.utc) - timedelta(days=1)
)
'''

REFERENCE_FUNNEL = '''
# Funnel analysis
funnel = await client.events.funnel_analysis(
    funnel_steps=["page_view", "click", "conversion"],
    start_time=start_time,
    end_time=end_time
)
'''

REFERENCE_METRICS = '''
# Create metrics
await client.metrics.create_metric(
    name="active_users",
    display_name="Active Users",
    metric_type=MetricType.GAUGE,
    unit="users"
)

# Record values
await client.metrics.record_value(
    metric_id="active_users",
    value=150,
    dimensions={"region": "us-east"}
)

# Convenience methods
await client.metrics.increment("page_views", value=1)
await client.metrics.set_gauge("cpu_usage", value=75.5)
await client.metrics.record_timing("response_time", duration_ms=120)

# Aggregation
aggregates = await client.metrics.aggregate(
    metric_id="page_views",
    aggregation_method=AggregationMethod.SUM,
    granularity=TimeGranularity.HOUR,
    start_time=start_time,
    end_time=end_time
)
'''

REALTIME_DASHBOARD = '''
async def create_realtime_dashboard():
    async with AnalyticsClient("isp_tenant") as client:
        # Create dashboard
        dashboard = await client.dashboards.create_dashboard(
            name="realtime_ops",
            display_name="Real-time Operations",
            category="operations"
        )
        
        # Add widgets
        await client.dashboards.create_widget(
            dashboard_id=dashboard["dashboard_id"],
            name="active_users",
            title="Active Users",
            widget_type="gauge",
            query_config={
                "metric": "active_users",
                "aggregation": "last"
            }
        )
'''

CUSTOMER_SEGMENTATION = '''
async def create_user_segments():
    async with AnalyticsClient("isp_tenant") as client:
        # Create segment
        segment = await client.segments.create_segment(
            name="high_value_customers",
            display_name="High Value Customers",
            entity_type="customer"
        )
        
        # Add rules
        await client.segments.add_segment_rule(
            segment_id=segment["segment_id"],
            field_name="monthly_revenue",
            operator=SegmentOperator.GREATER_THAN,
            value=500
        )
'''

AUTOMATED_REPORTING = '''
async def setup_automated_reports():
    async with AnalyticsClient("isp_tenant") as client:
        # Create report
        report = await client.reports.create_report(
            name="weekly_summary",
            display_name="Weekly Summary Report",
            report_type=ReportType.ANALYTICS,
            query_config={
                "metrics": ["active_users", "revenue", "churn_rate"],
                "time_range": "7d"
            }
        )
        
        # Subscribe to notifications
        await client.reports.subscribe_to_report(
            report_id=report["report_id"],
            user_id="admin",
            email="admin@isp.com"
        )
'''


@pytest.fixture
def seed_tenant(transactional_db, settings, live_server, monkeypatch):  # noqa: ANN001, ANN201
    """make(slug): a committed tenant whose secret key and the live server are the examples'
    ANALYTICS_API_KEY and ANALYTICS_HOST; schemas dropped after."""
    settings.INGEST_RATE_LIMIT_PER_SECOND = 100_000
    made: list[TenantHandle] = []

    def make(slug: str) -> TenantHandle:
        handle = TenantHandle(tenant_create(slug=slug, name=slug, timezone="UTC"))
        Tenant.objects.filter(pk=handle.tenant.pk).update(monthly_event_quota=10**9)
        connection.set_schema_to_public()
        monkeypatch.setenv("ANALYTICS_API_KEY", handle.secret_key)
        monkeypatch.setenv("ANALYTICS_HOST", live_server.url)
        made.append(handle)
        return handle

    yield make
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        for handle in made:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{handle.tenant.schema_name}" CASCADE')


def namespace(**names: object) -> dict[str, object]:
    """What a program around the snippets would have imported or defined."""
    now = datetime.now(timezone.utc)
    return {"__name__": "seed", "AnalyticsClient": AnalyticsClient, "datetime": datetime,
            "timedelta": timedelta, "timezone": timezone, "start_time": now - timedelta(days=1),
            "end_time": now + timedelta(minutes=5),
            **{name: getattr(enums, name) for name in ("EventType", "MetricType", "AggregationMethod",
                                                        "TimeGranularity", "SegmentOperator", "ReportType")},
            **names}


def run_block(source: str, names: dict[str, object]) -> None:
    """Runs a block as written; top-level `await` works, as in the snippets of the seed's reference."""
    code = compile(source, "seed 002", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, names)  # noqa: S307 - the seed's examples
    if asyncio.iscoroutine(result):
        asyncio.run(result)


def secret_client(handle: TenantHandle, host: str, **options: object) -> AnalyticsClient:
    return AnalyticsClient(api_key=handle.secret_key, host=host, **options)


async def total(client: AnalyticsClient, series: dict) -> float:  # noqa: ANN001
    answer = await client.query.trends([series], date_from="-2d", interval="day")
    return answer.series[0]["total"]


def stored(tenant) -> list[tuple]:  # noqa: ANN001
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT event_type, event, distinct_id, anonymous_id, properties FROM events "
                       "ORDER BY timestamp, id")
        return [(kind, name, who, anon, json.loads(props))
                for kind, name, who, anon, props in cursor.fetchall()]


def test_basic_usage_counts_the_page_view_and_aggregates_the_gauge(seed_tenant, live_server):
    tenant = seed_tenant("your-tenant-id")
    run_block(BASIC_USAGE, namespace())

    async def check() -> None:
        async with secret_client(tenant, live_server.url) as client:
            assert await total(client, {"event": "$pageview"}) == 1
            metric = await client.metrics.get_metric("active_users")
            assert (metric["metric_id"], metric.metric_type, metric.display_name) == (
                "active_users", "gauge", "Active Users")
            last = await client.metrics.aggregate("active_users", aggregation="last", granularity="day",
                                                  date_from="-1d")
            assert [v for v in last.series[0]["values"] if v is not None] == [150]

    asyncio.run(check())
    assert [(kind, name, who, props) for kind, name, who, _, props in stored(tenant.tenant)] == [
        ("page", "$pageview", "user_123", {"url": "/dashboard"})]


def test_configuration_file_configures_a_client(seed_tenant, live_server):
    tenant = seed_tenant("isp-tenant")
    names = namespace()
    run_block(CONFIGURATION_FILE, names)
    config = names["config"]

    async def main() -> None:
        async with AnalyticsClient("isp_tenant", config=config) as client:
            assert client._batcher.flush_at == 5000  # processing.batch_size
            await client.events.track("Configured", distinct_id="ops")
            assert (await client.flush()).ok
            assert await total(client, {"event": "Configured"}) == 1

    asyncio.run(main())
    assert config.environment == "production" and config.database.pool_size == 20


def test_reference_events_are_stored_with_their_types_and_read_back(seed_tenant, live_server):
    tenant = seed_tenant("tenant-123")
    names = namespace()
    run_block(REFERENCE_CLIENT, names)
    client = names["client"]

    async def main() -> None:
        run = compile(REFERENCE_EVENTS, "seed 002", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        await eval(run, names)  # noqa: S307
        events = names["events"]
        assert sorted(e["event_name"] for e in events) == ["$pageview", "$pageview"]
        names_or_urls = sorted(e.properties.get("name", e.properties.get("url")) for e in events)
        assert names_or_urls == ["/home", "home_page"]
        assert await total(client, {"event": "$pageview"}) == 2
        assert await total(client, {"event": "$click"}) == 1
        assert await total(client, {"event": "purchase", "math": "sum", "property": "value"}) == 99.99
        await client.aclose()

    asyncio.run(main())
    rows = stored(tenant.tenant)
    assert [(kind, name, who) for kind, name, who, _, _ in rows] == [
        ("page", "$pageview", "user_123"), ("page", "$pageview", "user_123"), ("click", "$click", "user_123"),
        ("conversion", "purchase", client.events.anonymous_id)]
    assert rows[0][4] == {"referrer": "google.com", "name": "home_page"}
    assert rows[3][3] == client.events.anonymous_id and rows[3][4] == {"value": 99.99}


def test_reference_funnel_analysis_counts_steps_by_event_type(seed_tenant, live_server):
    seed_tenant("tenant-123")
    names = namespace()
    run_block(REFERENCE_CLIENT, names)
    client = names["client"]

    async def main() -> None:
        try:
            await client.events.track_page_view("/home", user_id="user_123")
            await client.events.track_click("button_1", user_id="user_123")
            await client.events.track_conversion("purchase", user_id="user_123", value=99.99)
            await client.events.track_page_view("/home", user_id="user_456")
            run = compile(REFERENCE_FUNNEL, "seed 002", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            await eval(run, names)  # noqa: S307
            assert [step["count"] for step in names["funnel"].steps] == [2, 1, 1]
        finally:
            await client.aclose()

    asyncio.run(main())


def test_reference_metrics_create_the_implied_metrics_and_aggregate(seed_tenant, live_server):
    tenant = seed_tenant("tenant-123")
    refusals = []
    # REFERENCE_CLIENT's client, with a callback that collects refusals.
    names = namespace(client=AnalyticsClient("tenant_123", on_error=refusals.append))
    client = names["client"]

    async def main() -> None:
        run = compile(REFERENCE_METRICS, "seed 002", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        await eval(run, names)  # noqa: S307
        aggregates = names["aggregates"]
        assert aggregates["metric"] == "page_views"
        assert sum(v or 0 for v in aggregates.series[0]["values"]) == 1
        kinds = {name: (await client.metrics.get_metric(name))
                 for name in ("page_views", "cpu_usage", "response_time")}
        assert {name: (m.metric_type, m.unit) for name, m in kinds.items()} == {
            "page_views": ("counter", ""), "cpu_usage": ("gauge", ""), "response_time": ("histogram", "ms")}
        for name, aggregation, value in (("cpu_usage", "last", 75.5), ("response_time", "max", 120)):
            answer = await client.metrics.aggregate(name, aggregation=aggregation, granularity="day",
                                                    date_from="-1d")
            assert [v for v in answer.series[0]["values"] if v is not None] == [value]
        # active_users was created without a dimension list: its `region` is stored, nothing refused.
        result = await client.flush()
        assert result.ok and result.refusals == []
        await client.aclose()

    asyncio.run(main())
    assert refusals == []
    assert tenant


def test_reference_metrics_record_value_with_an_undeclared_dimension_is_aggregated(seed_tenant, live_server):
    seed_tenant("tenant-123")
    names = namespace()
    run_block(REFERENCE_CLIENT, names)
    client = names["client"]

    async def main() -> None:
        try:
            run = compile(REFERENCE_METRICS, "seed 002", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            await eval(run, names)  # noqa: S307
            answer = await client.metrics.aggregate("active_users", aggregation="last", granularity="day",
                                                    date_from="-1d", dimensions={"region": "us-east"})
            assert [v for v in answer.series[0]["values"] if v is not None] == [150]
        finally:
            await client.aclose()

    asyncio.run(main())


def test_realtime_dashboard_shows_the_gauge(seed_tenant, live_server):
    tenant = seed_tenant("isp-tenant")

    async def setup() -> None:
        async with secret_client(tenant, live_server.url) as client:
            await client.metrics.create_metric("active_users", enums.MetricType.GAUGE)
            await client.metrics.set_gauge("active_users", 42)

    asyncio.run(setup())
    names = namespace()
    run_block(REALTIME_DASHBOARD + "\nasyncio.run(create_realtime_dashboard())\n",
              {**names, "asyncio": asyncio})

    async def check() -> None:
        async with secret_client(tenant, live_server.url) as client:
            page = await client._transport.request("GET", "/api/v1/dashboards", key=tenant.secret_key)
            dashboard = page["results"][0]
            assert (dashboard["name"], dashboard["category"]) == ("realtime_ops", "operations")
            data = await client.dashboards.data(dashboard["id"])
            widget = data.widgets[0]
            assert widget["widget_type"] == "gauge" and "error" not in widget
            assert widget["result"]["kind"] == "metric"
            assert [v for v in widget["result"]["series"][0]["values"] if v is not None][-1] == 42

    asyncio.run(check())


def test_customer_segmentation_puts_the_high_value_customer_in_the_segment(seed_tenant, live_server):
    tenant = seed_tenant("isp-tenant")

    async def setup() -> None:
        async with AnalyticsClient(api_key=tenant.write_key, host=live_server.url) as client:
            await client.events.identify("big", {"monthly_revenue": 900})
            await client.events.identify("small", {"monthly_revenue": 100})

    asyncio.run(setup())
    run_block(CUSTOMER_SEGMENTATION + "\nasyncio.run(create_user_segments())\n",
              {**namespace(), "asyncio": asyncio})

    async def check() -> None:
        async with secret_client(tenant, live_server.url) as client:
            page = await client._transport.request("GET", "/api/v1/segments", key=tenant.secret_key)
            segment = page["results"][0]
            assert segment["name"] == "high_value_customers"
            assert segment["rules"]["rules"][0] | {"id": None} == {
                "id": None, "field": "monthly_revenue", "operator": "gt", "value": 500}
            members = [p async for p in client.segments.iter_members(segment["id"])]
            assert [p.distinct_ids for p in members] == [["big"]]

    asyncio.run(check())


def test_automated_reporting_delivers_the_report_to_the_subscriber(
        seed_tenant, live_server, inbox):  # noqa: ANN001, F811
    tenant = seed_tenant("isp-tenant")

    async def setup() -> None:
        async with secret_client(tenant, live_server.url) as client:
            for name in ("active_users", "revenue", "churn_rate"):
                await client.metrics.create_metric(name, "gauge")
                await client.metrics.set_gauge(name, 7)

    asyncio.run(setup())
    run_block(AUTOMATED_REPORTING + "\nasyncio.run(setup_automated_reports())\n",
              {**namespace(), "asyncio": asyncio})

    async def deliver() -> None:
        # SDK Reference: `await client.reports.generate_report(...)`.
        async with AnalyticsClient("isp_tenant") as client:
            page = await client._transport.request("GET", "/api/v1/reports", key=tenant.secret_key)
            report = page["results"][0]
            assert (report["report_type"], report["time_range"]) == ("queries", "7d")
            assert [s["email"] for s in report["subscriptions"]] == ["admin@isp.com"]
            run = await client.reports.generate_report(report["id"])
            assert run.status == "succeeded"
            assert [(r["email"], r["status"]) for r in run.recipients] == [("admin@isp.com", "sent")]

    asyncio.run(deliver())
    assert inbox.count_to("admin@isp.com") == 1


def test_a_refusal_reaches_the_log_on_error_and_flush(seed_tenant, live_server, caplog):
    tenant = seed_tenant("isp-tenant")
    seen = []
    caplog.set_level(logging.ERROR, logger="analytics_sdk")

    async def main() -> None:
        async with secret_client(tenant, live_server.url) as admin:
            await admin.metrics.create_metric("jobs", "counter", dimensions=["queue"])
        async with AnalyticsClient(api_key=tenant.write_key, host=live_server.url,
                                   on_error=seen.append) as client:
            await client.metrics.record_value("jobs", 1, dimensions={"region": "eu"})  # undeclared dimension
            await client.metrics.increment("jobs")  # stored
            await client.metrics.increment("no_such_metric")  # a write key cannot create it
            await client.events.track("Kept", distinct_id="u1")
            result = await client.flush()
            assert not result.ok and result.failed == 2
            assert (await client.flush()).ok  # reported once
        return result

    result = asyncio.run(main())
    assert seen == result.refusals
    refusal = seen[0]
    assert isinstance(refusal, errors.DeliveryError) and refusal.channel == "metrics"
    assert refusal.status == 200 and refusal.code == "rejected"
    assert [item["metric"] for item in refusal.items] == ["jobs", "no_such_metric"]
    assert "Dimension 'region' is not allowed" in refusal.reasons[0]
    assert refusal.reasons[1].startswith("No metric 'no_such_metric'.") and "403" in refusal.reasons[1]
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(logged) == 1
    assert "region" in logged[0].getMessage() and "no_such_metric" in logged[0].getMessage()
    assert tenant.write_key not in caplog.text and tenant.secret_key not in caplog.text


def test_a_key_of_another_tenant_is_refused_and_a_write_key_is_not_checked(seed_tenant, live_server):
    tenant = seed_tenant("isp-tenant")

    async def main() -> None:
        with pytest.raises(errors.TenantMismatchError) as caught:
            async with AnalyticsClient("tenant_123"):
                pass
        assert caught.value.details == {"tenant_id": "tenant_123", "key_tenant": "isp-tenant"}
        client = AnalyticsClient("tenant_123")
        with pytest.raises(errors.TenantMismatchError):
            await client.metrics.create_metric("x", "gauge")  # the lazy check, without `async with`
        await client.aclose()
        async with AnalyticsClient("tenant_123", api_key=tenant.write_key) as client:
            await client.events.track("Sent", distinct_id="u1")
            assert (await client.flush()).ok

    asyncio.run(main())
