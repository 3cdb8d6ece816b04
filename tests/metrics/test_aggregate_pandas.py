"""Metric aggregations against an independent pandas computation of the semantics in
apps/metrics/queries/aggregate.py, on generated values spanning two DST changes."""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.insights.engine import query_run
from apps.metrics import services
from tests.helpers import assert_error, bearer

START = datetime(2026, 10, 20, tzinfo=timezone.utc)  # before the European and US autumn DST changes
END = datetime(2026, 11, 6, tzinfo=timezone.utc)
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]
AGGREGATIONS = ["count", "sum", "avg", "min", "max", "last", "p50", "p90", "p95", "p99"]
REGIONS, PLANS = ["eu", "us", "ap"], ["free", "pro"]


@pytest.fixture
def values(acme):  # noqa: ANN001, ANN201
    rng = random.Random(5)
    with schema_context(acme.tenant.schema_name):
        services.metric_create(name="orders", metric_type="counter", dimensions=["region", "plan"])
        services.metric_create(name="latency", metric_type="histogram", dimensions=["region", "route"])
        services.metric_create(name="queue", metric_type="gauge", dimensions=["region"])
        items = []
        span = (END - START).total_seconds()
        for _ in range(6000):
            metric = rng.choice(["orders", "latency", "queue"])
            at = START + timedelta(seconds=rng.uniform(0, span))
            if rng.random() < 0.1:
                at = at.replace(minute=0, second=0, microsecond=0)  # shared instants: `last` breaks ties by row
            dimensions: dict[str, Any] = {}
            if rng.random() < 0.85:
                dimensions["region"] = rng.choice(REGIONS)
            if metric == "orders" and rng.random() < 0.7:
                dimensions["plan"] = rng.choice(PLANS)
            if metric == "latency":
                dimensions["route"] = rng.choice(["/a", "/b"])
            value = {"orders": rng.randint(0, 5), "latency": round(rng.lognormvariate(3, 1), 3),
                     "queue": rng.randint(-20, 200)}[metric]
            items.append({"metric": metric, "value": value, "timestamp": at.isoformat(), "dimensions": dimensions})
        for first in range(0, len(items), 1000):
            answer = services.metric_values_record_batch(data={"values": items[first:first + 1000]})
            assert answer["rejected"] == []
        with connection.cursor() as cursor:
            cursor.execute("SELECT v.id, m.name, v.\"timestamp\", v.value, v.dimensions::text FROM metric_values v "
                           "JOIN metrics m ON m.id = v.metric_id")
            frame = pd.DataFrame(cursor.fetchall(), columns=["id", "metric", "timestamp", "value", "dimensions"])
    frame["dimensions"] = frame["dimensions"].map(json.loads)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return acme.tenant, frame


def floor(local: pd.Timestamp, granularity: str) -> pd.Timestamp:
    if granularity == "minute":
        return local.floor("min")
    if granularity == "hour":
        return local.floor("h")
    day = local.normalize()
    if granularity == "day":
        return day
    if granularity == "week":
        return day - pd.Timedelta(days=day.day_of_week)
    return day.replace(day=1)


def expected(frame: pd.DataFrame, spec: dict) -> list[dict]:
    zone = ZoneInfo(spec["timezone"])
    start = datetime.fromisoformat(spec["date_from"]).replace(tzinfo=zone)
    end = datetime.fromisoformat(spec["date_to"]).replace(tzinfo=zone)
    granularity, aggregation, group_by = spec["granularity"], spec["aggregation"], spec.get("group_by", [])
    step = {"minute": pd.DateOffset(minutes=1), "hour": pd.DateOffset(hours=1), "day": pd.DateOffset(days=1),
            "week": pd.DateOffset(weeks=1), "month": pd.DateOffset(months=1)}[granularity]
    buckets, current = [], floor(pd.Timestamp(start).tz_convert(zone).tz_localize(None), granularity)
    while current.to_pydatetime().replace(tzinfo=zone) < end:
        buckets.append(current)
        current = current + step
    rows = frame[(frame["metric"] == spec["metric"]) & (frame["timestamp"] >= pd.Timestamp(start))
                 & (frame["timestamp"] < pd.Timestamp(end))]
    for name, wanted in spec.get("dimensions", {}).items():
        wanted = wanted if isinstance(wanted, list) else [wanted]
        rows = rows[rows["dimensions"].map(lambda d, name=name, wanted=wanted: d.get(name) in wanted)]
    rows = rows.assign(
        bucket=rows["timestamp"].map(lambda t: floor(t.tz_convert(zone).tz_localize(None), granularity)),
        group=rows["dimensions"].map(lambda d: json.dumps([d.get(g) for g in group_by], ensure_ascii=False)),
    )
    sizes = rows.groupby("group").size()
    groups = sorted(sizes.index, key=lambda g: (-sizes[g], g.encode()))[: spec.get("limit", 100)] if group_by \
        else ["[]"]
    out = []
    for group in groups:
        mine = rows[rows["group"] == group]
        values = []
        for bucket in buckets:
            cell = mine[mine["bucket"] == bucket]
            values.append(cell_value(cell, aggregation, bucket, zone, start, end, step))
        out.append({"group": dict(zip(group_by, json.loads(group))), "values": values})
    return out


def cell_value(cell: pd.DataFrame, aggregation: str, bucket: pd.Timestamp, zone: ZoneInfo, start: datetime,
               end: datetime, step: pd.DateOffset) -> Any:
    if aggregation == "count":
        return len(cell)
    if aggregation in ("sum", "rate"):
        total = cell["value"].sum() if len(cell) else 0
        if aggregation == "sum":
            return total
        # In UTC: Python subtracts two datetimes of one tzinfo as wall times, ignoring DST.
        lo = max(bucket.to_pydatetime().replace(tzinfo=zone), start).astimezone(timezone.utc)
        hi = min((bucket + step).to_pydatetime().replace(tzinfo=zone), end).astimezone(timezone.utc)
        return total / (hi - lo).total_seconds()
    if not len(cell):
        return None
    if aggregation == "last":
        return cell.sort_values(["timestamp", "id"]).iloc[-1]["value"]
    if aggregation in ("avg", "min", "max"):
        return getattr(cell["value"], {"avg": "mean", "min": "min", "max": "max"}[aggregation])()
    return cell["value"].quantile(int(aggregation[1:]) / 100)


def same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


def random_spec(rng: random.Random) -> dict:
    metric = rng.choice(["orders", "latency", "queue"])
    granularity = rng.choice(["minute", "hour", "day", "week", "month"])
    days = {"minute": 0.05, "hour": 3, "day": 14, "week": 17, "month": 17}[granularity]
    start = START + timedelta(seconds=rng.uniform(-86400, (END - START).total_seconds() - days * 86400))
    if granularity == "minute" and rng.random() < 0.5:
        start = datetime(2026, 10, 25, 0, 40, tzinfo=timezone.utc)  # inside Paris's repeated hour
    aggregations = AGGREGATIONS + (["rate"] if metric == "orders" else [])
    spec: dict[str, Any] = {
        "kind": "metric", "metric": metric, "aggregation": rng.choice(aggregations), "granularity": granularity,
        "timezone": rng.choice(ZONES),
        "date_from": start.replace(tzinfo=None, microsecond=0).isoformat(),
        "date_to": (start + timedelta(days=days)).replace(tzinfo=None, microsecond=0).isoformat(),
    }
    if rng.random() < 0.5:
        spec["group_by"] = rng.sample({"orders": ["region", "plan"], "latency": ["region", "route"],
                                       "queue": ["region"]}[metric], 1 + (metric != "queue" and rng.random() < 0.5))
        if rng.random() < 0.3:
            spec["limit"] = 2
    if rng.random() < 0.3:
        spec["dimensions"] = {"region": rng.choice([rng.choice(REGIONS), rng.sample(REGIONS, 2)])}
    return spec


def close(a: Any, b: Any) -> bool:
    """Within the sketches' 1% relative error."""
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= 0.01 * abs(float(b))


def compare(frame: pd.DataFrame, tenant, specs: list[dict]) -> set[bool]:  # noqa: ANN001
    sources = set()
    for spec in specs:
        with schema_context(tenant.schema_name):
            answer = query_run(data={**spec, "refresh": True}, tenant=tenant)
        sources.add(answer["from_rollups"])
        theirs = expected(frame, spec)
        assert [s["group"] for s in answer["series"]] == [s["group"] for s in theirs], spec
        approximate = answer["from_rollups"] and spec["aggregation"].startswith("p")
        for mine, other in zip(answer["series"], theirs):
            assert len(mine["values"]) == len(other["values"]), spec
            for a, b in zip(mine["values"], other["values"]):
                assert (close if approximate else same)(a, b), (spec, a, b)
    return sources


def test_random_aggregations_agree_with_pandas(values):
    tenant, frame = values
    rng = random.Random(8)
    specs = [random_spec(rng) for _ in range(80)]
    seen = {(spec["aggregation"], spec["granularity"]) for spec in specs}
    # Before any roll-up, long ranges take the rollup path with every rollup bucket unrolled (read
    # raw); after it they read rollups. Short ranges read raw values both times.
    assert compare(frame, tenant, specs) == {False, True}
    with schema_context(tenant.schema_name):
        assert services.metrics_roll()["minutes"] > 1000
    assert compare(frame, tenant, specs) == {False, True}
    # Every aggregation and every granularity was compared.
    assert {a for a, _ in seen} >= set(AGGREGATIONS) and {g for _, g in seen} == {"minute", "hour", "day", "week",
                                                                                   "month"}


def test_the_aggregate_endpoint_is_the_metric_query(client, acme, values):
    tenant, _ = values
    query = "aggregation=p95&granularity=day&date_from=2026-10-21&date_to=2026-10-24&timezone=UTC" \
            "&group_by=region&dimensions.route=/a"
    body = client.get(f"/api/v1/metrics/latency/aggregate?{query}", **bearer(acme.secret_key)).json()
    spec = {"kind": "metric", "metric": "latency", "aggregation": "p95", "granularity": "day", "timezone": "UTC",
            "date_from": "2026-10-21", "date_to": "2026-10-24", "group_by": ["region"], "dimensions": {"route": "/a"}}
    with schema_context(tenant.schema_name):
        assert body["series"] == query_run(data=spec, tenant=tenant)["series"]
    assert body["series"][0]["buckets"][0] == "2026-10-21T00:00:00+00:00"
    assert set(body) >= {"metric", "aggregation", "granularity", "timezone", "series", "computed_at", "cached"}


def test_aggregation_errors_are_400(client, acme, values):
    def get(name: str, query: str):  # noqa: ANN202
        return client.get(f"/api/v1/metrics/{name}/aggregate?{query}", **bearer(acme.secret_key))

    assert "group_by" in assert_error(get("latency", "group_by=host"), 400, "invalid")["details"]
    assert "dimensions" in assert_error(get("latency", "dimensions.host=a"), 400, "invalid")["details"]
    assert "aggregation" in assert_error(get("latency", "aggregation=rate"), 400, "invalid")["details"]
    assert_error(get("latency", "aggregation=median"), 400, "invalid")
    assert_error(get("latency", "granularity=minute&date_from=-30d"), 400, "invalid")  # too many buckets


def test_values_not_rolled_up_yet_count_in_long_ranges(values):
    tenant, _ = values
    spec = {"kind": "metric", "metric": "orders", "aggregation": "count", "granularity": "day", "timezone": "UTC",
            "date_from": "2026-10-20", "date_to": "2026-11-06"}
    with schema_context(tenant.schema_name):
        services.metrics_roll()
        before = query_run(data={**spec, "refresh": True}, tenant=tenant)
        late = [{"metric": "orders", "value": 1, "timestamp": f"2026-10-2{day}T12:00:00Z"} for day in (2, 2, 5)]
        services.metric_values_record_batch(data={"values": late})
        after = query_run(data={**spec, "refresh": True}, tenant=tenant)  # not rolled up yet: read raw
        services.metrics_roll()
        rolled = query_run(data={**spec, "refresh": True}, tenant=tenant)
    assert before["from_rollups"] and after["from_rollups"]
    difference = [b - a for a, b in zip(before["series"][0]["values"], after["series"][0]["values"])]
    assert difference[2] == 2 and difference[5] == 1 and sum(difference) == 3
    assert rolled["series"] == after["series"]
