"""Trends against an independent pandas computation of DESIGN §5, on generated data.

The dataset: 1,500 persons (about 10,000 events), anonymous visitors of whom some identify later (their anonymous events
become theirs), several events and property types, timestamps spread over two DST changes. Many
random specs (math, interval, time zone, filters on events and persons, breakdowns) must agree
with pandas exactly (floats to 1e-9 relative).
"""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from django_tenants.utils import schema_context

from apps.insights.queries.trends import OTHER
from apps.insights.engine import query_run

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]
EVENTS = ["View", "Click", "Buy"]
PATHS = ["/", "/docs", "/pricing", "/blog", "/Docs/API"]
PLANS = ["free", "pro", "team"]
START = datetime(2026, 3, 20, tzinfo=timezone.utc)  # before the spring DST change in Europe and the US
END = datetime(2026, 11, 10, tzinfo=timezone.utc)  # after the autumn ones


def generate(seed: int) -> list[dict]:
    rng = random.Random(seed)
    messages = []
    span = (END - START).total_seconds()
    for n in range(1500):
        anon = f"anon-{n}"
        user = f"user-{n}" if rng.random() < 0.5 else None
        identified_at = START + timedelta(seconds=rng.uniform(0, span))
        for _ in range(rng.randint(1, 12)):
            at = START + timedelta(seconds=rng.uniform(0, span))
            properties: dict[str, Any] = {"path": rng.choice(PATHS)}
            roll = rng.random()
            if roll < 0.6:
                properties["amount"] = rng.choice([rng.randint(1, 100), round(rng.uniform(0, 100), 2)])
            elif roll < 0.7:
                properties["amount"] = "n/a"  # not a number: ignored by numeric math and comparisons
            if rng.random() < 0.5:
                properties["plan"] = rng.choice(PLANS)
            ids = {"userId": user} if user and at > identified_at else {"anonymousId": anon}
            messages.append({"type": "track", "event": rng.choice(EVENTS), "properties": properties,
                             "timestamp": at.isoformat(), **ids})
            if rng.random() < 0.15:  # another event at the very same instant: ties are ordered by id
                messages.append({**messages[-1], "event": rng.choice(EVENTS)})
        if user:
            messages.append({"type": "identify", "userId": user, "anonymousId": anon,
                             "traits": {"plan": rng.choice(PLANS), "seats": rng.randint(1, 20)},
                             "timestamp": identified_at.isoformat()})
    for i, message in enumerate(messages):
        message["messageId"] = f"gen-{seed}-{i}"
    return messages


# --- the independent computation ------------------------------------------------------------------


def json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


def as_text(value: Any) -> str | None:
    """What PostgreSQL's ->> gives for a JSON value."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def matches(source: dict, f: dict) -> bool:
    key, op, value = f["property"], f["operator"], f.get("value")
    present = key in source
    current = source.get(key)
    if op == "eq":
        return present and json_equal(current, value)
    if op == "neq":
        return not (present and json_equal(current, value))
    if op in ("gt", "gte", "lt", "lte"):
        if not present or isinstance(current, bool) or not isinstance(current, (int, float)):
            return False
        return {"gt": current > value, "gte": current >= value, "lt": current < value, "lte": current <= value}[op]
    if op in ("contains", "not_contains"):
        text = as_text(current) if present else None
        found = text is not None and value.lower() in text.lower()
        return found if op == "contains" else not found
    if op == "in":
        return present and any(json_equal(current, v) for v in value)
    if op == "not_in":
        return not (present and any(json_equal(current, v) for v in value))
    if op == "is_set":
        return present
    return not present


def local_floor(local: pd.Series, interval: str) -> pd.Series:
    if interval == "hour":
        return local.dt.floor("h")
    day = local.dt.normalize()
    if interval == "day":
        return day
    if interval == "week":
        return day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    return day - pd.to_timedelta(day.dt.day - 1, unit="D")


def expected_buckets(start: datetime, end: datetime, zone: ZoneInfo, interval: str) -> list[pd.Timestamp]:
    first = local_floor(pd.Series([pd.Timestamp(start).tz_convert(zone).tz_localize(None)]), interval).iloc[0]
    offset = {"hour": pd.DateOffset(hours=1), "day": pd.DateOffset(days=1), "week": pd.DateOffset(weeks=1),
              "month": pd.DateOffset(months=1)}[interval]
    buckets, current = [], first
    while current.to_pydatetime().replace(tzinfo=zone) < end:
        buckets.append(current)
        current = current + offset
    return buckets


def aggregate(frame: pd.DataFrame, math_name: str) -> Any:
    if math_name == "total":
        return len(frame)
    if math_name == "unique_persons":
        return frame["person"].nunique()
    values = frame["value"].dropna()
    if math_name == "sum":
        return values.sum() if len(values) else 0
    if not len(values):
        return None
    if math_name == "avg":
        return values.mean()
    if math_name == "min":
        return values.min()
    if math_name == "max":
        return values.max()
    return values.quantile(int(math_name[1:]) / 100)


def pandas_trends(events: pd.DataFrame, spec: dict) -> list[dict]:
    zone = ZoneInfo(spec["timezone"])
    start = datetime.fromisoformat(spec["date_from"]).replace(tzinfo=zone)
    end = datetime.fromisoformat(spec["date_to"]).replace(tzinfo=zone)
    interval = spec["interval"]
    buckets = expected_buckets(start, end, zone, interval)
    out = []
    for series in spec["series"]:
        rows = events[(events["event"] == series["event"]) & (events["timestamp"] >= pd.Timestamp(start))
                      & (events["timestamp"] < pd.Timestamp(end))].copy()
        for f in spec.get("filters", []):
            column = "properties" if f.get("type", "event") == "event" else "traits"
            rows = rows[rows[column].map(lambda source, f=f: matches(source, f))]
        prop = series.get("property")
        rows["value"] = rows["properties"].map(
            lambda p: float(p[prop]) if prop and isinstance(p.get(prop), (int, float))
            and not isinstance(p.get(prop), bool) else None).astype("float64")
        rows["bucket"] = local_floor(rows["timestamp"].dt.tz_convert(zone).dt.tz_localize(None), interval)
        breakdown = spec.get("breakdown")
        if breakdown:
            column = "properties" if breakdown.get("type", "event") == "event" else "traits"
            # An object column: pandas' string inference would turn the missing values (None) into NaN.
            rows["group"] = pd.Series([as_text(source.get(breakdown["property"])) for source in rows[column]],
                                      index=rows.index, dtype=object)
            counts = rows.groupby("group", dropna=False).size().reset_index(name="n")
            counts["sort_null"] = counts["group"].isna()
            counts["sort_key"] = counts["group"].map(lambda g: g.encode() if isinstance(g, str) else b"")
            counts = counts.sort_values(["n", "sort_null", "sort_key"], ascending=[False, True, True])
            top = list(counts["group"].head(breakdown.get("limit", 10)))
            top = [None if (isinstance(g, float) and math.isnan(g)) else g for g in top]
            groups = top + ([OTHER] if len(counts) > len(top) else [])
            rows["group"] = pd.Series([g if g in top else OTHER for g in rows["group"]], index=rows.index,
                                      dtype=object)
        else:
            groups = [None]
            rows["group"] = None
        empty = 0 if series.get("math", "total") in ("total", "unique_persons", "sum") else None
        for group in groups:
            mine = rows[rows["group"].isna()] if group is None else rows[rows["group"] == group]
            values = []
            for bucket in buckets:
                in_bucket = mine[mine["bucket"] == bucket]
                values.append(aggregate(in_bucket, series.get("math", "total")) if len(in_bucket) else empty)
            total = aggregate(mine, series.get("math", "total")) if len(mine) else empty
            out.append({"breakdown_value": group, "values": values, "total": total,
                        "buckets": [b.to_pydatetime().replace(tzinfo=zone).isoformat() for b in buckets]})
    return out


def random_spec(rng: random.Random) -> dict:
    interval = rng.choice(["hour", "day", "day", "week", "month"])
    days = {"hour": rng.randint(1, 6), "day": rng.randint(3, 60), "week": rng.randint(20, 120),
            "month": rng.randint(60, 230)}[interval]
    start = START + timedelta(days=rng.randint(0, 200), hours=rng.choice([0, 5, 13]))
    end = start + timedelta(days=days, hours=rng.choice([0, 7]))
    filter_pool = [
        {"property": "plan", "operator": "eq", "value": rng.choice(PLANS)},
        {"property": "plan", "operator": "neq", "value": "free"},
        {"property": "amount", "operator": rng.choice(["gt", "gte", "lt", "lte"]), "value": rng.choice([10, 50.5, 90])},
        {"property": "path", "operator": "contains", "value": rng.choice(["doc", "/", "PRI"])},
        {"property": "path", "operator": "not_contains", "value": "blog"},
        {"property": "path", "operator": "in", "value": rng.sample(PATHS, 2)},
        {"property": "path", "operator": "not_in", "value": ["/"]},
        {"property": "plan", "operator": rng.choice(["is_set", "is_not_set"])},
        {"property": "plan", "operator": "eq", "value": rng.choice(PLANS), "type": "person"},
        {"property": "seats", "operator": "gte", "value": 10, "type": "person"},
        {"property": "plan", "operator": "is_not_set", "type": "person"},
    ]
    series = []
    for _ in range(rng.randint(1, 2)):
        math_name = rng.choice(["total", "unique_persons", "sum", "avg", "min", "max", "p50", "p90", "p95", "p99"])
        one = {"event": rng.choice(EVENTS), "math": math_name}
        if math_name not in ("total", "unique_persons"):
            one["property"] = "amount"
        series.append(one)
    spec = {"kind": "trends", "interval": interval, "timezone": rng.choice(ZONES), "series": series,
            "date_from": start.replace(tzinfo=None).isoformat(), "date_to": end.replace(tzinfo=None).isoformat(),
            "filters": rng.sample(filter_pool, rng.randint(0, 2))}
    if rng.random() < 0.4:
        spec["breakdown"] = {"property": rng.choice(["plan", "path"]), "type": rng.choice(["event", "event", "person"]),
                             "limit": rng.randint(1, 3)}
    return spec


def same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def test_random_trends_specs_agree_with_pandas(dataset):
    tenant, events = dataset
    rng = random.Random(2026)
    checked = 0
    for _ in range(60):
        spec = random_spec(rng)
        with schema_context(tenant.schema_name):
            answer = query_run(data={**spec, "refresh": True}, tenant=tenant)
        expected = pandas_trends(events, spec)
        got = answer["series"]
        assert len(got) == len(expected), spec
        for mine, theirs in zip(got, expected):
            assert mine["breakdown_value"] == theirs["breakdown_value"], spec
            assert mine["buckets"] == theirs["buckets"], spec
            assert all(same(a, b) for a, b in zip(mine["values"], theirs["values"], strict=True)), (spec, mine, theirs)
            assert same(mine["total"], theirs["total"]), (spec, mine["total"], theirs["total"])
        checked += sum(1 for s in got for v in s["values"] if v)
    assert checked > 200  # the specs hit real data, not only empty buckets
