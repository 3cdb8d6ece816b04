"""Retention: hand-made cohorts, and random specs against an independent pandas computation."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from django_tenants.utils import schema_context

from apps.insights.engine import query_run
from tests.insights.test_query_api import ingest
from tests.insights.test_trends_pandas import (
    EVENTS, PLANS, START, ZONES, expected_buckets, local_floor, matches,
)
from tests.helpers import bearer


def test_cohorts_and_returns_including_after_date_to(client, acme):
    ingest(acme.tenant, [
        {"type": "track", "userId": "a", "event": "Signup", "timestamp": "2026-10-05T10:00:00Z"},  # week of 10-05
        {"type": "track", "userId": "a", "event": "Login", "timestamp": "2026-10-05T12:00:00Z"},  # same week: k=0
        {"type": "track", "userId": "a", "event": "Login", "timestamp": "2026-10-13T12:00:00Z"},  # k=1
        {"type": "track", "userId": "a", "event": "Login", "timestamp": "2026-10-27T12:00:00Z"},  # k=3, after date_to
        {"type": "track", "userId": "b", "event": "Signup", "timestamp": "2026-10-06T10:00:00Z"},
        {"type": "track", "userId": "b", "event": "Signup", "timestamp": "2026-10-14T10:00:00Z"},  # not a new cohort
        {"type": "track", "userId": "c", "event": "Signup", "timestamp": "2026-10-15T10:00:00Z"},  # week of 10-12
        {"type": "track", "userId": "c", "event": "Login", "timestamp": "2026-10-19T10:00:00Z"},  # k=1
    ])
    body = client.post("/api/v1/query", {"kind": "retention", "start_event": "Signup", "return_event": "Login",
                                         "period": "week", "periods": 3, "date_from": "2026-10-05",
                                         "date_to": "2026-10-19", "timezone": "UTC"},
                       content_type="application/json", **bearer(acme.secret_key)).json()
    assert body["kind"] == "retention" and body["period"] == "week"
    assert body["cohorts"] == [
        {"start": "2026-10-05T00:00:00+00:00", "size": 2, "retained": [2, 1, 0, 1]},
        {"start": "2026-10-12T00:00:00+00:00", "size": 1, "retained": [1, 1, 0, 0]},
    ]


def pandas_retention(events: pd.DataFrame, spec: dict) -> list[dict]:
    zone = ZoneInfo(spec["timezone"])
    start = datetime.fromisoformat(spec["date_from"]).replace(tzinfo=zone)
    end = datetime.fromisoformat(spec["date_to"]).replace(tzinfo=zone)
    period, periods = spec["period"], spec["periods"]
    rows = events
    for f in spec.get("filters", []):
        column = "properties" if f.get("type", "event") == "event" else "traits"
        rows = rows[rows[column].map(lambda source, f=f: matches(source, f))]
    starts = rows[(rows["event"] == spec["start_event"]) & (rows["timestamp"] >= pd.Timestamp(start))
                  & (rows["timestamp"] < pd.Timestamp(end))]
    first = starts.groupby("person")["timestamp"].min()
    cohort = local_floor(first.dt.tz_convert(zone).dt.tz_localize(None), period)
    returns = rows[rows["event"] == spec["return_event"]]
    returned = set(zip(returns["person"],
                       local_floor(returns["timestamp"].dt.tz_convert(zone).dt.tz_localize(None), period)))
    offset = {"day": pd.DateOffset(days=1), "week": pd.DateOffset(weeks=1), "month": pd.DateOffset(months=1)}[period]
    out = []
    for bucket in expected_buckets(start, end, zone, period):
        members = list(cohort[cohort == bucket].index)
        retained = [len(members)]
        for k in range(1, periods + 1):
            target = bucket + offset * k
            retained.append(sum(1 for person in members if (person, target) in returned))
        out.append({"start": bucket.to_pydatetime().replace(tzinfo=zone).isoformat(), "size": len(members),
                    "retained": retained})
    return out


def test_random_retention_specs_agree_with_pandas(dataset):
    tenant, events = dataset
    rng = random.Random(7)
    for _ in range(30):
        period = rng.choice(["day", "week", "month"])
        days = {"day": rng.randint(3, 40), "week": rng.randint(14, 120), "month": rng.randint(60, 200)}[period]
        start = START + timedelta(days=rng.randint(0, 150), hours=rng.choice([0, 9]))
        spec = {"kind": "retention", "start_event": rng.choice(EVENTS), "return_event": rng.choice(EVENTS),
                "period": period, "periods": rng.randint(1, 8), "timezone": rng.choice(ZONES),
                "date_from": start.replace(tzinfo=None).isoformat(),
                "date_to": (start + timedelta(days=days)).replace(tzinfo=None).isoformat(),
                "filters": rng.sample([
                    {"property": "plan", "operator": "eq", "value": rng.choice(PLANS), "type": "person"},
                    {"property": "amount", "operator": "gt", "value": 30},
                    {"property": "path", "operator": "not_in", "value": ["/"]},
                ], rng.randint(0, 1))}
        with schema_context(tenant.schema_name):
            answer = query_run(data={**spec, "refresh": True}, tenant=tenant)
        assert answer["cohorts"] == pandas_retention(events, spec), spec
