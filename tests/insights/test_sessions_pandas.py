"""Sessions against an independent pandas computation (apps/insights/queries/sessions.py), on
generated visits: persons (some identifying later, so their anonymous events become theirs) make
bursts of events with gaps around the session gap (ties, exactly the gap, just over it), page views
with URLs in the different places clients put them, client session ids in Segment's
`context.sessionId` and in PostHog's `properties.$session_id`, over the spring DST change in Europe.
Every measure, day/week/hour intervals, a DST zone, breakdowns, event/person/session filters and a
custom gap must agree exactly (floats to 1e-9 relative); trends and funnels with a session filter too.
"""

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

from apps.events.ingestion import Clock, parse_segment
from apps.events.storage import events_write
from apps.insights.engine import query_run
from apps.insights.queries.trends import OTHER
from apps.insights.spec import SESSION_MEASURES
from apps.tenancy.services import tenant_update
from tests.insights.test_funnel import expected_funnel
from tests.insights.test_trends_pandas import as_text, expected_buckets, local_floor, matches, pandas_trends, same

START = datetime(2026, 3, 24, tzinfo=timezone.utc)  # the Europe/Paris DST change is on March 29
DAYS = 10
PATHS = ["/", "/pricing", "/docs", "/blog"]
PLANS = ["free", "pro", "team"]
# Seconds between two events of a visit: ties, short, exactly 10 and 30 minutes, just over them.
GAPS = [0, 0, 5, 40, 300, 599, 600, 601, 1200, 1799, 1800, 1801, 2400]


def generate(seed: int) -> list[dict]:
    rng = random.Random(seed)
    messages: list[dict] = []
    span = DAYS * 86400
    shared_session = "shared-session"  # one client session id two persons send
    for n in range(300):
        anon = f"anon-{n}"
        user = f"user-{n}" if rng.random() < 0.4 else None
        identified_at = START + timedelta(seconds=rng.uniform(0, span))
        for _visit in range(rng.randint(1, 4)):
            at = START + timedelta(seconds=rng.uniform(0, span))
            roll = rng.random()
            client = None
            if roll < 0.15:
                client = ("context", f"s-{n}-{_visit}")
            elif roll < 0.25:
                client = ("posthog", f"ph-{n}-{_visit}")
            elif roll < 0.27:
                client = ("context", shared_session)
            for _ in range(rng.randint(1, 7)):
                at = at + timedelta(seconds=rng.choice(GAPS))
                ids = {"userId": user} if user and at > identified_at else {"anonymousId": anon}
                properties: dict[str, Any] = {}
                context: dict[str, Any] = {}
                if rng.random() < 0.5:
                    kind = "page"
                    path = rng.choice(PATHS)
                    where = rng.random()
                    if where < 0.4:
                        properties["path"] = path
                    elif where < 0.6:
                        properties["url"] = "https://example.com" + path
                    elif where < 0.75:
                        properties["$current_url"] = "https://example.com" + path
                    elif where < 0.9:
                        context["page"] = {"url": "https://example.com" + path}
                    # else: a page view without any URL
                    message: dict[str, Any] = {"type": "page", "name": "Page"}
                else:
                    kind = "track"
                    message = {"type": "track", "event": rng.choice(["View", "Click", "Buy"])}
                    if rng.random() < 0.5:
                        properties["path"] = rng.choice(PATHS)
                if rng.random() < 0.5:
                    properties["plan"] = rng.choice(PLANS)
                if client and client[0] == "context":
                    context["sessionId"] = client[1]
                elif client:
                    properties["$session_id"] = client[1]
                message.update({"properties": properties, "context": context, "timestamp": at.isoformat(), **ids})
                messages.append(message)
                assert kind in ("page", "track")
        if user:
            messages.append({"type": "identify", "userId": user, "anonymousId": anon,
                             "traits": {"plan": rng.choice(PLANS)}, "timestamp": identified_at.isoformat()})
    for i, message in enumerate(messages):
        message["messageId"] = f"sess-{seed}-{i}"
    return messages


@pytest.fixture
def visits(acme):  # noqa: ANN001, ANN201
    now = datetime.now(timezone.utc)
    messages = generate(seed=7)
    with schema_context(acme.tenant.schema_name):
        clock = Clock(received_at=now, sent_at=None, retention_days=3650)
        for start in range(0, len(messages), 500):
            events_write(rows=[parse_segment(m, clock) for m in messages[start:start + 500]], received_at=now)
        with connection.cursor() as cursor:
            cursor.execute('SELECT id, "timestamp", event, event_type, distinct_id, session_id, properties::text, '
                           "context::text FROM events")
            events = pd.DataFrame(cursor.fetchall(), columns=["id", "timestamp", "event", "event_type", "distinct_id",
                                                              "session_id", "properties", "context"])
            cursor.execute("SELECT distinct_id, person_id FROM person_distinct_ids")
            owners = dict(cursor.fetchall())
            cursor.execute("SELECT id, traits::text FROM persons")
            traits = {pid: json.loads(t) for pid, t in cursor.fetchall()}
    events["properties"] = events["properties"].map(json.loads)
    events["context"] = events["context"].map(json.loads)
    events["person"] = events["distinct_id"].map(owners)
    events["traits"] = events["person"].map(lambda p: traits.get(p, {}))
    events["timestamp"] = pd.to_datetime(events["timestamp"], utc=True)
    return acme.tenant, events


# --- the independent computation ------------------------------------------------------------------


def page_url(row: Any) -> str | None:
    if row.event_type != "page":
        return None
    page = row.context.get("page")
    for value in (row.properties.get("url"), row.properties.get("$current_url"),
                  page.get("url") if isinstance(page, dict) else None, row.properties.get("path")):
        if as_text(value) is not None:
            return as_text(value)
    return None


def sessionize(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, gap_minutes: int) -> pd.DataFrame:
    """Every event of [start, end) with its session key."""
    rows = events[(events["timestamp"] >= start) & (events["timestamp"] < end)].sort_values(["timestamp", "id"]).copy()
    rows["client"] = [sid if isinstance(sid, str) else as_text(p.get("$session_id"))
                      for sid, p in zip(rows["session_id"], rows["properties"])]
    rows["page"] = [page_url(r) for r in rows.itertuples()]
    keys = []
    last: dict[int, tuple[pd.Timestamp, int]] = {}  # person -> (previous time, session number)
    gap = pd.Timedelta(minutes=gap_minutes)
    for client, person, ts in zip(rows["client"], rows["person"], rows["timestamp"]):
        if isinstance(client, str):
            keys.append(f"client|{client}")
            continue
        previous = last.get(person)
        number = previous[1] if previous is not None and ts - previous[0] <= gap else (
            previous[1] + 1 if previous is not None else 0)
        last[person] = (ts, number)
        keys.append(f"person|{person}|{number}")
    rows["key"] = keys
    return rows


def sessions_of(rows: pd.DataFrame) -> pd.DataFrame:
    out = []
    for key, group in rows.groupby("key", sort=False):
        pages = [p for p in group["page"] if isinstance(p, str)]
        first = group.iloc[0]
        out.append({"key": key, "start": first["timestamp"], "person": first["person"],
                    "duration": (group["timestamp"].iloc[-1] - first["timestamp"]).total_seconds(),
                    "events": len(group), "pages": int((group["event_type"] == "page").sum()),
                    "entry": pages[0] if pages else None, "exit": pages[-1] if pages else None,
                    "first_properties": first["properties"], "traits": first["traits"],
                    "event_properties": list(group["properties"])})
    return pd.DataFrame(out)


def session_props(s: Any) -> dict[str, Any]:
    props = {"$session_duration": float(s["duration"]), "$event_count": int(s["events"]),
             "$page_count": int(s["pages"]), "$entry_page": s["entry"], "$exit_page": s["exit"]}
    return {k: v for k, v in props.items() if not (v is None or (isinstance(v, float) and math.isnan(v)))}


def measure(frame: pd.DataFrame, name: str) -> Any:
    if name == "sessions":
        return len(frame)
    if not len(frame):
        return None
    return {"median_duration": lambda: frame["duration"].quantile(0.5),
            "mean_duration": lambda: frame["duration"].mean(),
            "bounce_rate": lambda: (frame["events"] == 1).mean(),
            "events_per_session": lambda: frame["events"].mean(),
            "pages_per_session": lambda: frame["pages"].mean()}[name]()


def pandas_sessions(events: pd.DataFrame, spec: dict, gap_minutes: int = 30) -> list[dict]:
    zone = ZoneInfo(spec["timezone"])
    start = datetime.fromisoformat(spec["date_from"]).replace(tzinfo=zone)
    end = datetime.fromisoformat(spec["date_to"]).replace(tzinfo=zone)
    interval = spec.get("interval", "day")
    buckets = expected_buckets(start, end, zone, interval)
    sessions = sessions_of(sessionize(events, pd.Timestamp(start), pd.Timestamp(end), gap_minutes))
    for f in spec.get("filters", []):
        kind = f.get("type", "event")
        if kind == "event":
            continue  # below: together
        if kind == "person":
            keep = [matches(t, f) for t in sessions["traits"]]
        else:
            keep = [matches(session_props(s), f) for _, s in sessions.iterrows()]
        sessions = sessions[pd.Series(keep, index=sessions.index, dtype=bool)] if len(sessions) else sessions
    # Event filters combine: a session needs one event passing all of them.
    event_filters = [f for f in spec.get("filters", []) if f.get("type", "event") == "event"]
    if event_filters and len(sessions):
        keep = [any(all(matches(p, f) for f in event_filters) for p in props) for props in sessions["event_properties"]]
        sessions = sessions[pd.Series(keep, index=sessions.index, dtype=bool)]
    sessions = sessions.copy()
    if len(sessions):
        sessions["bucket"] = local_floor(sessions["start"].dt.tz_convert(zone).dt.tz_localize(None), interval)
    measures = spec.get("measures", list(SESSION_MEASURES))
    breakdown = spec.get("breakdown")
    if breakdown:
        kind = breakdown.get("type", "event")
        if kind == "event":
            values = [as_text(p.get(breakdown["property"])) for p in sessions["first_properties"]]
        elif kind == "person":
            values = [as_text(t.get(breakdown["property"])) for t in sessions["traits"]]
        else:
            values = [v if isinstance(v, str) else None
                      for v in sessions["entry" if breakdown["property"] == "$entry_page" else "exit"]]
        sessions["group"] = pd.Series(values, index=sessions.index, dtype=object)
        counts: dict = {}
        for value in values:
            counts[value] = counts.get(value, 0) + 1
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] is None, (kv[0] or "").encode()))
        top = [value for value, _ in ranked[:breakdown.get("limit", 10)]]
        groups = top + ([OTHER] if len(ranked) > len(top) else [])
        sessions["group"] = pd.Series([g if g in top else OTHER for g in values], index=sessions.index, dtype=object)
    else:
        groups = [None]
        sessions["group"] = None
    out = []
    for group in groups:
        mine = sessions[sessions["group"].isna()] if group is None else sessions[sessions["group"] == group]
        for name in measures:
            empty = 0 if name == "sessions" else None
            values = []
            for bucket in buckets:
                in_bucket = mine[mine["bucket"] == bucket] if len(mine) else mine
                values.append(measure(in_bucket, name) if len(in_bucket) else empty)
            out.append({"measure": name, "breakdown_value": group, "values": values,
                        "total": measure(mine, name) if len(mine) else empty,
                        "buckets": [b.to_pydatetime().replace(tzinfo=zone).isoformat() for b in buckets]})
    return out


def kept_event_ids(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, filters: list[dict],
                   gap_minutes: int = 30) -> set:
    """The events of [start, end) whose session passes the session filters."""
    rows = sessionize(events, start, end, gap_minutes)
    sessions = sessions_of(rows)
    good = {s["key"] for _, s in sessions.iterrows()
            if all(matches(session_props(s), f) for f in filters if f.get("type") == "session")}
    return set(rows[rows["key"].isin(good)]["id"])


def check(answer: dict, expected: list[dict], spec: dict) -> int:
    got = answer["series"]
    assert [(s["measure"], s["breakdown_value"]) for s in got] == \
           [(s["measure"], s["breakdown_value"]) for s in expected], \
        (spec, [(s["breakdown_value"], s["total"]) for s in got if s["measure"] == "sessions"],
         [(s["breakdown_value"], s["total"]) for s in expected if s["measure"] == "sessions"])
    hits = 0
    for mine, theirs in zip(got, expected):
        assert mine["buckets"] == theirs["buckets"], spec
        assert all(same(a, b) for a, b in zip(mine["values"], theirs["values"], strict=True)), \
            (spec, mine["measure"], mine["breakdown_value"], mine["values"], theirs["values"])
        assert same(mine["total"], theirs["total"]), (spec, mine["measure"], mine["total"], theirs["total"])
        hits += sum(1 for v in mine["values"] if v)
    return hits


def run(tenant: Any, spec: dict) -> dict:
    with schema_context(tenant.schema_name):
        return query_run(data={**spec, "refresh": True}, tenant=tenant)


SPECS = [
    {"interval": "day", "timezone": "Europe/Paris", "date_from": "2026-03-24", "date_to": "2026-04-03"},
    {"interval": "hour", "timezone": "UTC", "date_from": "2026-03-28T20:00:00", "date_to": "2026-03-30T04:00:00"},
    {"interval": "week", "timezone": "America/New_York", "date_from": "2026-03-23", "date_to": "2026-04-06"},
    {"interval": "day", "timezone": "Europe/Paris", "date_from": "2026-03-25T13:00:00", "date_to": "2026-04-02",
     "breakdown": {"property": "plan", "type": "event", "limit": 2}},
    {"interval": "day", "timezone": "UTC", "date_from": "2026-03-24", "date_to": "2026-04-03",
     "breakdown": {"property": "$entry_page", "type": "session", "limit": 3}},
    {"interval": "day", "timezone": "Asia/Kolkata", "date_from": "2026-03-24", "date_to": "2026-04-03",
     "breakdown": {"property": "$exit_page", "type": "session", "limit": 10}, "measures": ["sessions", "bounce_rate"]},
    {"interval": "day", "timezone": "Europe/Paris", "date_from": "2026-03-24", "date_to": "2026-04-03",
     "breakdown": {"property": "plan", "type": "person", "limit": 2}, "measures": ["mean_duration"]},
    {"interval": "day", "timezone": "Europe/Paris", "date_from": "2026-03-24", "date_to": "2026-04-03",
     "filters": [{"property": "path", "operator": "eq", "value": "/pricing"}]},
    {"interval": "day", "timezone": "UTC", "date_from": "2026-03-24", "date_to": "2026-04-03",
     "filters": [{"property": "path", "operator": "eq", "value": "/docs"},
                 {"property": "plan", "operator": "eq", "value": "pro"}]},
    {"interval": "week", "timezone": "UTC", "date_from": "2026-03-23", "date_to": "2026-04-06",
     "filters": [{"property": "plan", "operator": "in", "value": ["pro", "team"], "type": "person"}]},
    {"interval": "day", "timezone": "UTC", "date_from": "2026-03-24", "date_to": "2026-04-03",
     "filters": [{"property": "$session_duration", "operator": "gt", "value": 600, "type": "session"}]},
    {"interval": "day", "timezone": "Europe/Paris", "date_from": "2026-03-24", "date_to": "2026-04-03",
     "filters": [{"property": "$entry_page", "operator": "contains", "value": "pricing", "type": "session"},
                 {"property": "$page_count", "operator": "gte", "value": 2, "type": "session"}]},
    {"interval": "day", "timezone": "UTC", "date_from": "2026-03-24", "date_to": "2026-04-03",
     "filters": [{"property": "$exit_page", "operator": "is_not_set", "type": "session"},
                 {"property": "$event_count", "operator": "lte", "value": 3, "type": "session"}]},
]


def test_sessions_agree_with_pandas(visits):
    tenant, events = visits
    hits = 0
    for spec in SPECS:
        spec = {"kind": "sessions", **spec}
        hits += check(run(tenant, spec), pandas_sessions(events, spec), spec)
    assert hits > 300  # the specs hit real sessions, not only empty buckets


def test_a_custom_gap_cuts_other_sessions_and_other_cache_entries(visits, settings):
    tenant, events = visits
    settings.ENABLE_QUERY_CACHE = True
    spec = {"kind": "sessions", **SPECS[0]}
    with schema_context(tenant.schema_name):
        before = query_run(data=spec, tenant=tenant)
    tenant_update(tenant=tenant, changes={"session_gap_minutes": 10})
    with schema_context(tenant.schema_name):
        after = query_run(data=spec, tenant=tenant)
    assert after["cached"] is False  # the gap is part of the cached answer's key
    check(after, pandas_sessions(events, spec, gap_minutes=10), spec)
    assert after["series"][0]["total"] > before["series"][0]["total"]  # a shorter gap cuts more sessions
    for other in SPECS[3:5] + SPECS[10:12]:
        other = {"kind": "sessions", **other}
        check(run(tenant, other), pandas_sessions(events, other, gap_minutes=10), other)


def test_trends_with_a_session_filter_agree_with_pandas(visits):
    tenant, events = visits
    for filters, gap in [
        ([{"property": "$page_count", "operator": "gte", "value": 2, "type": "session"}], 30),
        ([{"property": "$entry_page", "operator": "eq", "value": "/pricing", "type": "session"},
          {"property": "plan", "operator": "eq", "value": "pro"}], 30),
        ([{"property": "$session_duration", "operator": "lt", "value": 1200, "type": "session"}], 10),
    ]:
        tenant_update(tenant=tenant, changes={"session_gap_minutes": gap})
        spec = {"kind": "trends", "interval": "day", "timezone": "Europe/Paris", "date_from": "2026-03-24",
                "date_to": "2026-04-03", "filters": filters,
                "series": [{"event": "Click"}, {"event": "Buy", "math": "unique_persons"}]}
        zone = ZoneInfo(spec["timezone"])
        start = pd.Timestamp(datetime(2026, 3, 24, tzinfo=zone))
        end = pd.Timestamp(datetime(2026, 4, 3, tzinfo=zone))
        kept = events[events["id"].isin(kept_event_ids(events, start, end, filters, gap))]
        expected = pandas_trends(kept, {**spec, "filters": [f for f in filters if f.get("type") != "session"]})
        got = run(tenant, spec)["series"]
        assert len(got) == len(expected)
        total = 0
        for mine, theirs in zip(got, expected):
            assert mine["values"] == theirs["values"], (filters, mine, theirs)
            assert mine["total"] == theirs["total"]
            total += mine["total"]
        assert total > 0, filters
        # The filter does something: without it, more events.
        plain = run(tenant, {**spec, "filters": [f for f in filters if f.get("type") != "session"]})
        assert sum(s["total"] for s in plain["series"]) > total


def test_funnels_with_a_session_filter_agree_with_pandas(visits):
    tenant, events = visits
    spec = {"kind": "funnel", "timezone": "UTC", "window": "1d", "date_from": "2026-03-24",
            "date_to": "2026-04-01", "steps": [{"event": "View"}, {"event": "Click"}],
            "filters": [{"property": "$page_count", "operator": "gte", "value": 1, "type": "session"}]}
    start, end = pd.Timestamp("2026-03-24", tz="UTC"), pd.Timestamp("2026-04-01", tz="UTC")
    for step_filters in (False, True):
        if step_filters:  # a session filter on a step only
            spec = {**spec, "filters": [], "steps": [
                {"event": "View"},
                {"event": "Click", "filters": [{"property": "$event_count", "operator": "gte", "value": 3,
                                                "type": "session"}]}]}
        answer = run(tenant, spec)["steps"]
        if not step_filters:
            kept = events[events["id"].isin(kept_event_ids(events, start, end + pd.Timedelta(days=1), spec["filters"]))]
        else:
            ids = kept_event_ids(events, start, end + pd.Timedelta(days=1), spec["steps"][1]["filters"])
            kept = events[(events["event"] != "Click") | events["id"].isin(ids)]
        expected = expected_funnel(kept, {**spec, "window": "24h", "filters": [],
                                          "steps": [{"event": s["event"]} for s in spec["steps"]]})
        for mine, theirs in zip(answer, expected, strict=True):
            assert mine["count"] == theirs["count"], (spec, answer, expected)
            a, b = mine["median_seconds_from_previous"], theirs["median_seconds_from_previous"]
            assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-9)
        assert answer[0]["count"] > 0 and answer[1]["count"] > 0
