"""Funnels: hand-made paths, and random specs against an independent computation."""

from __future__ import annotations

import math
import random
import statistics
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from django_tenants.utils import schema_context

from apps.insights.engine import query_run
from tests.helpers import assert_error, bearer
from tests.insights.test_query_api import ingest
from tests.insights.test_trends_pandas import (
    EVENTS, PLANS, START, ZONES, matches,
)


def funnel(client, acme, steps, **extra):  # noqa: ANN001, ANN003, ANN201
    spec = {"kind": "funnel", "date_from": "2026-10-01", "date_to": "2026-10-10", "timezone": "UTC",
            "steps": [{"event": s} if isinstance(s, str) else s for s in steps], **extra}
    return client.post("/api/v1/query", spec, content_type="application/json", **bearer(acme.secret_key))


def test_ordering_window_and_the_best_entry(client, acme):
    ingest(acme.tenant, [
        # a: A then B then C, 1 h apart.
        {"type": "track", "userId": "a", "event": "A", "timestamp": "2026-10-02T10:00:00Z"},
        {"type": "track", "userId": "a", "event": "B", "timestamp": "2026-10-02T11:00:00Z"},
        {"type": "track", "userId": "a", "event": "C", "timestamp": "2026-10-02T12:00:00Z"},
        # b: B before A does not count; A then C (no B) stops at step 1.
        {"type": "track", "userId": "b", "event": "B", "timestamp": "2026-10-03T09:00:00Z"},
        {"type": "track", "userId": "b", "event": "A", "timestamp": "2026-10-03T10:00:00Z"},
        {"type": "track", "userId": "b", "event": "C", "timestamp": "2026-10-03T11:00:00Z"},
        # c: an early entry whose B is outside the 1-day window, a later entry that completes.
        {"type": "track", "userId": "c", "event": "A", "timestamp": "2026-10-01T00:00:00Z"},
        {"type": "track", "userId": "c", "event": "A", "timestamp": "2026-10-05T00:00:00Z"},
        {"type": "track", "userId": "c", "event": "B", "timestamp": "2026-10-05T06:00:00Z"},
        {"type": "track", "userId": "c", "event": "C", "timestamp": "2026-10-11T00:00:00Z"},  # after date_to: too late
        # d: entry before date_from does not enter.
        {"type": "track", "userId": "d", "event": "A", "timestamp": "2026-09-30T23:00:00Z"},
        {"type": "track", "userId": "d", "event": "B", "timestamp": "2026-10-01T01:00:00Z"},
    ])
    body = funnel(client, acme, ["A", "B", "C"], window="1d").json()
    assert body["kind"] == "funnel"
    assert [(s["event"], s["count"]) for s in body["steps"]] == [("A", 3), ("B", 2), ("C", 1)]
    assert body["steps"][1]["conversion_from_start"] == 2 / 3 and body["steps"][2]["conversion_from_previous"] == 0.5
    # a: 1 h; c: 6 h -> median of [3600, 21600] = 12600.
    assert body["steps"][1]["median_seconds_from_previous"] == 12600
    assert body["steps"][2]["median_seconds_from_previous"] == 3600
    # A 14-day window lets c's C (after date_to) count.
    wide = funnel(client, acme, ["A", "B", "C"], refresh=True).json()
    assert [s["count"] for s in wide["steps"]] == [3, 2, 2]


def test_repeated_steps_need_different_rows_and_filters_apply_per_step(client, acme):
    ingest(acme.tenant, [
        {"type": "track", "userId": "a", "event": "View", "properties": {"page": "home"}, "timestamp": "2026-10-02T10:00:00Z"},
        {"type": "track", "userId": "b", "event": "View", "properties": {"page": "home"}, "timestamp": "2026-10-02T10:00:00Z"},
        {"type": "track", "userId": "b", "event": "View", "properties": {"page": "pricing"}, "timestamp": "2026-10-02T10:05:00Z"},
    ])
    body = funnel(client, acme, ["View", "View"]).json()
    assert [s["count"] for s in body["steps"]] == [2, 1]
    body = funnel(client, acme, ["View", {"event": "View", "filters": [{"property": "page", "operator": "eq",
                                                                         "value": "pricing"}]}]).json()
    assert [s["count"] for s in body["steps"]] == [2, 1]


def test_events_at_the_same_instant_are_ordered_by_row(client, acme):
    ingest(acme.tenant, [
        # a: B stored before A, both at 10:00: B is at or after A and another row, so it matches.
        {"type": "track", "userId": "a", "event": "B", "timestamp": "2026-10-02T10:00:00Z"},
        {"type": "track", "userId": "a", "event": "A", "timestamp": "2026-10-02T10:00:00Z"},
        # b: two A rows at one instant make a two-step A -> A funnel; a lone A does not.
        {"type": "track", "userId": "b", "event": "A", "timestamp": "2026-10-03T10:00:00Z"},
        {"type": "track", "userId": "b", "event": "A", "timestamp": "2026-10-03T10:00:00Z"},
        {"type": "track", "userId": "c", "event": "A", "timestamp": "2026-10-03T10:00:00Z"},
    ])
    body = funnel(client, acme, ["A", "B"]).json()
    assert [s["count"] for s in body["steps"]] == [3, 1]
    assert body["steps"][1]["median_seconds_from_previous"] == 0
    assert [s["count"] for s in funnel(client, acme, ["A", "A"]).json()["steps"]] == [3, 1]
    # Step 3 only has to differ from step 2's row: b's first A (same instant) matches it again.
    assert [s["count"] for s in funnel(client, acme, ["A", "A", "A"]).json()["steps"]] == [3, 1, 1]


def test_funnel_validation(client, acme):
    assert "$.steps" in assert_error(funnel(client, acme, ["A"]), 400, "invalid")["details"]
    assert "$.steps" in assert_error(funnel(client, acme, ["A"] * 11), 400, "invalid")["details"]
    assert "$.window" in assert_error(funnel(client, acme, ["A", "B"], window="forever"), 400, "invalid")["details"]


def expected_funnel(events: pd.DataFrame, spec: dict) -> list[dict]:
    zone = ZoneInfo(spec["timezone"])
    start = pd.Timestamp(datetime.fromisoformat(spec["date_from"]).replace(tzinfo=zone))
    end = pd.Timestamp(datetime.fromisoformat(spec["date_to"]).replace(tzinfo=zone))
    window = pd.Timedelta(seconds=int(spec["window"][:-1]) * {"h": 3600, "d": 86400}[spec["window"][-1]])
    per_step = []
    for step in spec["steps"]:
        rows = events[events["event"] == step["event"]]
        for f in [*spec.get("filters", []), *step.get("filters", [])]:
            column = "properties" if f.get("type", "event") == "event" else "traits"
            rows = rows[rows[column].map(lambda source, f=f: matches(source, f))]
        by_person: dict = {}
        for person, ts, row_id in sorted(zip(rows["person"], rows["timestamp"], rows["id"]), key=lambda r: (r[1], r[2])):
            by_person.setdefault(person, []).append((ts, row_id))
        per_step.append(by_person)
    best: dict = {}
    for person, entries in per_step[0].items():
        for t1, id1 in entries:
            if not (start <= t1 < end):
                continue
            matched = [(t1, id1)]
            for by_person in per_step[1:]:
                previous = matched[-1]
                candidates = [(ts, i) for ts, i in by_person.get(person, [])
                              if ts >= previous[0] and i != previous[1] and ts <= t1 + window]
                if not candidates:
                    break
                matched.append(min(candidates))
            current = best.get(person)
            if current is None or len(matched) > len(current):  # ties keep the earlier entry
                best[person] = matched
    out = []
    counts = [sum(1 for m in best.values() if len(m) > k) for k in range(len(spec["steps"]))]
    for k, step in enumerate(spec["steps"]):
        gaps = [(m[k][0] - m[k - 1][0]).total_seconds() for m in best.values() if len(m) > k] if k else []
        out.append({"event": step["event"], "count": counts[k],
                    "conversion_from_start": counts[k] / counts[0] if counts[0] else 0.0,
                    "conversion_from_previous": (counts[k] / counts[k - 1] if counts[k - 1] else 0.0) if k
                    else (1.0 if counts[0] else 0.0),
                    "median_seconds_from_previous": statistics.median(gaps) if gaps else None})
    return out


def test_random_funnels_agree_with_an_independent_computation(dataset):
    tenant, events = dataset
    rng = random.Random(99)
    for _ in range(25):
        start = START + timedelta(days=rng.randint(0, 180))
        spec = {"kind": "funnel", "timezone": rng.choice(ZONES), "window": rng.choice(["6h", "3d", "14d", "30d"]),
                "date_from": start.replace(tzinfo=None).isoformat(),
                "date_to": (start + timedelta(days=rng.randint(5, 60))).replace(tzinfo=None).isoformat(),
                "steps": [{"event": rng.choice(EVENTS)} for _ in range(rng.randint(2, 4))],
                "filters": rng.sample([{"property": "amount", "operator": "gte", "value": 20},
                                       {"property": "plan", "operator": "eq", "value": rng.choice(PLANS),
                                        "type": "person"}], rng.randint(0, 1))}
        if rng.random() < 0.3:
            spec["steps"][-1]["filters"] = [{"property": "path", "operator": "contains", "value": "doc"}]
        with schema_context(tenant.schema_name):
            answer = query_run(data={**spec, "refresh": True}, tenant=tenant)
        expected = expected_funnel(events, spec)
        for mine, theirs in zip(answer["steps"], expected, strict=True):
            mine, theirs = dict(mine), dict(theirs)
            a, b = mine.pop("median_seconds_from_previous"), theirs.pop("median_seconds_from_previous")
            assert mine == theirs, spec
            assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-9), (spec, a, b)
