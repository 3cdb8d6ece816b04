"""The summary kind and `GET /api/v1/summary` / `GET /api/v1/analytics/overview` against an
independent pandas computation of apps/insights/queries/summary.py's semantics."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.events.ingestion import Clock, parse_segment
from apps.events.storage import events_write
from apps.insights.engine import query_run
from tests.helpers import bearer
from tests.insights.test_trends_pandas import END, PLANS, START, generate


def _pages(seed: int) -> list[dict]:
    """Page views whose URL comes from each place the summary reads it, and some with none."""
    rng = random.Random(seed)
    span = (END - START).total_seconds()
    messages = []
    for n in range(600):
        at = START + timedelta(seconds=rng.uniform(0, span))
        url = rng.choice(["https://a.example/", "https://a.example/pricing", "https://a.example/docs?q=1"])
        where = rng.randrange(4)
        message = {"type": "page", "anonymousId": f"anon-{rng.randrange(1500)}", "timestamp": at.isoformat(),
                   "properties": {"plan": rng.choice(PLANS)}, "messageId": f"page-{seed}-{n}"}
        if where == 0:
            message["properties"]["url"] = url
        elif where == 1:
            message["properties"]["$current_url"] = url
        elif where == 2:
            message["context"] = {"page": {"url": url}}
        elif rng.random() < 0.5:
            message["properties"]["path"] = "/" + url.rsplit("/", 1)[1]
        messages.append(message)
    return messages


@pytest.fixture
def summary_data(acme):  # noqa: ANN001, ANN201
    now = datetime.now(timezone.utc)
    messages = generate(seed=13) + _pages(seed=13)
    with schema_context(acme.tenant.schema_name):
        clock = Clock(received_at=now, sent_at=None, retention_days=3650)
        for start in range(0, len(messages), 500):
            events_write(rows=[parse_segment(m, clock) for m in messages[start:start + 500]], received_at=now)
        with connection.cursor() as cursor:
            cursor.execute('SELECT "timestamp", event, event_type, distinct_id, properties::text, context::text '
                           "FROM events")
            events = pd.DataFrame(cursor.fetchall(), columns=["timestamp", "event", "event_type", "distinct_id",
                                                              "properties", "context"])
            cursor.execute("SELECT distinct_id, person_id FROM person_distinct_ids")
            owners = dict(cursor.fetchall())
            cursor.execute("SELECT id, traits::text FROM persons")
            traits = {pid: json.loads(t) for pid, t in cursor.fetchall()}
    events["properties"] = events["properties"].map(json.loads)
    events["context"] = events["context"].map(json.loads)
    events["person"] = events["distinct_id"].map(owners)
    events["traits"] = events["person"].map(lambda p: traits.get(p, {}))
    events["timestamp"] = pd.to_datetime(events["timestamp"], utc=True)
    return acme, events


def _url(row: pd.Series) -> str | None:
    if row["event_type"] != "page":
        return None
    properties, page = row["properties"], (row["context"].get("page") or {})
    for value in (properties.get("url"), properties.get("$current_url"), page.get("url"), properties.get("path")):
        if value is not None:
            return value
    return None


def _figure(value: int, previous: int) -> dict:
    return {"value": value, "previous": previous, "change": None if previous == 0 else (value - previous) / previous}


def _top(now: pd.Series, before: pd.Series, key: str, top: int) -> list[dict]:
    counts = now.value_counts()
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0].encode()))[:top]
    previous = before.value_counts()
    return [{key: name, **_figure(int(n), int(previous.get(name, 0)))} for name, n in ranked]


def reference(events: pd.DataFrame, start: datetime, end: datetime, *, top: int = 5, keep=None) -> dict:  # noqa: ANN001
    """Summary steps 1-5, computed from the rows alone."""
    previous_start = start - (end - start)
    first_seen = events.groupby("person")["timestamp"].min()  # any event: filters do not apply
    scoped = events[(events["timestamp"] >= previous_start) & (events["timestamp"] < end)]
    if keep is not None:
        scoped = scoped[scoped.apply(keep, axis=1)]
    now, before = scoped[scoped["timestamp"] >= start], scoped[scoped["timestamp"] < start]
    new = {p for p in now["person"].unique() if first_seen[p] >= start}
    new_before = {p for p in before["person"].unique() if first_seen[p] >= previous_start}
    pages_now, pages_before = now.apply(_url, axis=1).dropna(), before.apply(_url, axis=1).dropna()
    return {
        "previous": {"date_from": previous_start.isoformat(), "date_to": start.isoformat()},
        "events": _figure(len(now), len(before)),
        "persons": _figure(now["person"].nunique(), before["person"].nunique()),
        "new_persons": _figure(len(new), len(new_before)),
        "top_events": _top(now["event"], before["event"], "event", top),
        "top_pages": _top(pages_now, pages_before, "page", top),
    }


def _same_change(got: float | None, want: float | None) -> bool:
    return got is None if want is None else got == pytest.approx(want, rel=1e-9)


def _compare(answer: dict, expected: dict) -> None:
    for key, value in expected.items():
        if key in ("top_events", "top_pages"):
            assert len(answer[key]) == len(value), key
            for got, want in zip(answer[key], value):
                assert {k: got[k] for k in want if k != "change"} == {k: v for k, v in want.items() if k != "change"}
                assert _same_change(got["change"], want["change"]), (key, got, want)
        elif key == "previous":
            assert {k: datetime.fromisoformat(v) for k, v in answer[key].items()} == \
                   {k: datetime.fromisoformat(v) for k, v in value.items()}
        else:
            assert answer[key]["value"] == value["value"], key
            assert answer[key]["previous"] == value["previous"], key
            assert _same_change(answer[key]["change"], value["change"]), key


CASES = [
    # (date_from, date_to, zone, top, filters, keep)
    ("2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z", "UTC", 5, [], None),
    # A month holding the autumn DST change: the previous period is as long in instants.
    ("2026-10-01", "2026-11-01", "Europe/Paris", 3, [], None),
    ("2026-08-01", "2026-09-15", "America/New_York", 2,
     [{"property": "plan", "operator": "eq", "value": "pro"}],
     lambda row: row["properties"].get("plan") == "pro"),
    ("2026-05-01", "2026-08-01", "UTC", 10,
     [{"property": "plan", "operator": "in", "value": ["team", "free"], "type": "person"}],
     lambda row: row["traits"].get("plan") in ("team", "free")),
]


@pytest.mark.parametrize(("date_from", "date_to", "zone", "top", "filters", "keep"), CASES)
def test_summary_agrees_with_pandas(summary_data, date_from, date_to, zone, top, filters, keep):  # noqa: ANN001
    acme, events = summary_data
    with schema_context(acme.tenant.schema_name):
        answer = query_run(data={"kind": "summary", "date_from": date_from, "date_to": date_to, "timezone": zone,
                                 "top": top, "filters": filters}, tenant=acme.tenant)
    start = datetime.fromisoformat(answer["date_from"])
    end = datetime.fromisoformat(answer["date_to"])
    local = ZoneInfo(zone)
    if "T" not in date_from:  # a bare date is local midnight
        assert start == datetime.fromisoformat(date_from).replace(tzinfo=local)
    expected = reference(events, start, end, top=top, keep=keep)
    # Sessions are the sessions kind's (itself checked against pandas in test_sessions_pandas.py).
    with schema_context(acme.tenant.schema_name):
        counted = [query_run(data={"kind": "sessions", "measures": ["sessions"], "interval": "month",
                                   "date_from": a.isoformat(), "date_to": b.isoformat(), "timezone": zone,
                                   "filters": filters}, tenant=acme.tenant)["series"][0]["total"]
                   for a, b in ((start, end), (start - (end - start), start))]
    expected["sessions"] = _figure(*counted)
    assert counted[0] > 0 and counted[1] > 0
    assert expected["events"]["value"] > 0 and expected["events"]["previous"] > 0
    assert expected["top_pages"], "the data must hold page views in the range"
    _compare(answer, expected)


def test_summary_and_overview_endpoints(summary_data, api_client, globex):  # noqa: ANN001
    acme, events = summary_data
    query = {"date_from": "2026-06-01T00:00:00Z", "date_to": "2026-07-01T00:00:00Z", "top": 4}
    summary = api_client.get("/api/v1/summary", query, **bearer(acme.secret_key))
    overview = api_client.get("/api/v1/analytics/overview", query, **bearer(acme.secret_key))
    assert summary.status_code == overview.status_code == 200, summary.content
    body, other = summary.json(), overview.json()
    assert body["kind"] == "summary" and body["timezone"] == acme.tenant.timezone
    for key in ("events", "persons", "sessions", "new_persons", "top_events", "top_pages", "previous"):
        assert body[key] == other[key]
    _compare(body, reference(events, datetime(2026, 6, 1, tzinfo=timezone.utc),
                             datetime(2026, 7, 1, tzinfo=timezone.utc), top=4))

    # Another tenant's key reads its own (empty) tenant.
    empty = api_client.get("/api/v1/summary", query, **bearer(globex.secret_key)).json()
    assert empty["events"] == {"value": 0, "previous": 0, "change": None}
    assert empty["top_events"] == [] and empty["top_pages"] == []


@pytest.mark.parametrize(("query", "field"), [
    ({"date_from": "yesterday-ish"}, "date_from"),
    ({"date_from": "2026-06-02", "date_to": "2026-06-01"}, "date_to"),
    ({"top": "0"}, "top"),
    ({"top": "many"}, "top"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
])
def test_summary_refuses_bad_parameters(acme, api_client, query, field):  # noqa: ANN001
    response = api_client.get("/api/v1/summary", query, **bearer(acme.secret_key))
    assert response.status_code == 400, response.content
    body = response.json()["error"]
    assert field in json.dumps(body["details"]) or field in body["message"]


def test_summary_unknown_segment_is_refused(acme, api_client):  # noqa: ANN001
    response = api_client.get("/api/v1/summary", {"segment": "nobody"}, **bearer(acme.secret_key))
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"segment": "nobody"}


def test_seed_003_read_paths_answer_as_ours(summary_data, api_client):  # noqa: ANN001
    """Seed 003's `GET /api/analytics/summary`, `/real-time` and `/health` run as written."""
    acme, _ = summary_data
    query = {"date_from": "2026-06-01T00:00:00Z", "date_to": "2026-07-01T00:00:00Z"}
    ours = api_client.get("/api/v1/summary", query, **bearer(acme.secret_key)).json()
    seed = api_client.get("/api/analytics/summary", query, **bearer(acme.secret_key))
    assert seed.status_code == 200, seed.content
    assert {k: v for k, v in seed.json().items() if k not in ("cached", "computed_at")} == \
           {k: v for k, v in ours.items() if k not in ("cached", "computed_at")}

    live = api_client.get("/api/analytics/real-time", **bearer(acme.secret_key))
    assert live.status_code == 200, live.content
    assert set(live.json()) >= {"active_persons", "events_per_minute", "top_events", "top_pages"}
    assert api_client.get("/api/analytics/summary", query, **bearer(acme.write_key)).status_code == 403
    assert api_client.get("/api/analytics/summary", query).status_code == 401

    health = api_client.get("/api/analytics/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
