"""Summary: a tenant's headline figures over a range, each against the previous period of the same
length (`GET /api/v1/summary`, seed 000's `GET /api/v1/analytics/overview`).

Semantics, in order:
1. Periods: the range [date_from, date_to) and the previous period [date_from - length, date_from),
   where length = date_to - date_from (exact instants: a range over a DST change keeps its length).
2. Events: events in the period passing the query's filters and segment; a person is the person
   owning the event's distinct_id after identity merges.
3. events = their count; persons = distinct persons among them; sessions = the sessions kind's
   count over the period with the same filters and segment (apps/insights/queries/sessions.py:
   sessions with at least one matching event, cut at the period's edges, with the tenant's gap);
   new_persons = persons among them with no event at all (any name, any property) before the
   period's start.
4. top_events: the `top` event names with the most events in the range (ties: by name, bytewise),
   each with its count in the previous period; top_pages: the same for the URL of page views
   (apps/insights/sessionize.PAGE_URL), page views without a URL left out.
5. change = (value - previous) / previous, null when previous is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from django.db import connection

from apps.core.numbers import json_number
from apps.core.timeranges import TimeRange
from apps.insights import budget
from apps.insights.filters import PERSON, PERSON_JOIN, TRAITS_JOIN, filters_sql
from apps.insights.sessionize import PAGE_URL
from apps.insights.segments import segment_condition
from apps.insights.spec import SummarySpec


@dataclass(frozen=True)
class Periods:
    start: datetime  # the range's start, the previous period's end
    end: datetime
    previous_start: datetime


def periods(time_range: TimeRange) -> Periods:
    """Exact instants: aware arithmetic within one zone would count wall-clock hours."""
    start, end = time_range.start.astimezone(timezone.utc), time_range.end.astimezone(timezone.utc)
    return Periods(start=start, end=end, previous_start=(start - (end - start)).astimezone(time_range.zone))


def change(value: float | int | None, previous: float | int | None) -> float | None:
    if value is None or not previous:
        return None
    return json_number((value - previous) / previous)


def figure(value: int | float | None, previous: int | float | None) -> dict[str, Any]:
    return {"value": value, "previous": previous, "change": change(value, previous)}


def run(spec: SummarySpec, time_range: TimeRange, sessions: tuple[int | None, int | None]) -> dict[str, Any]:
    """The figures; `sessions` is (current, previous) from the sessions kind."""
    p = periods(time_range)
    where, params, needs_person = filters_sql(spec.filters, "filters")
    segment_sql, segment_params = segment_condition(spec.segment)
    person_join = TRAITS_JOIN if needs_person else ""
    scoped = f"""
        SELECT e."timestamp" >= %s AS now, {PERSON} AS person, e.event, e.event_type, {PAGE_URL} AS page
        FROM events e
        {PERSON_JOIN}
        {person_join}
        WHERE e."timestamp" >= %s AND e."timestamp" < %s AND {where} AND {segment_sql}
    """
    scoped_params = [p.start, p.previous_start, p.end, *params, *segment_params]
    # A person is new in a period when none of their distinct ids has an event before its start
    # (person_distinct_ids follows merges; events (distinct_id, timestamp) is indexed).
    seen_before = """EXISTS (SELECT 1 FROM person_distinct_ids d JOIN events b ON b.distinct_id = d.distinct_id
                             WHERE d.person_id = a.person AND b."timestamp" < %s)"""
    figures_sql = f"""
        WITH s AS MATERIALIZED ({scoped}),
        active AS (SELECT person, bool_or(now) AS now, bool_or(NOT now) AS before FROM s GROUP BY person)
        SELECT (SELECT count(*) FILTER (WHERE now) FROM s), (SELECT count(*) FILTER (WHERE NOT now) FROM s),
               count(*) FILTER (WHERE a.now), count(*) FILTER (WHERE a.before),
               count(*) FILTER (WHERE a.now AND NOT a.before AND NOT {seen_before}),
               count(*) FILTER (WHERE a.before AND NOT {seen_before})
        FROM active a
    """
    top_sql = f"""
        WITH s AS MATERIALIZED ({scoped})
        (SELECT 'event', event, count(*) FILTER (WHERE now) AS n, count(*) FILTER (WHERE NOT now)
         FROM s GROUP BY event HAVING bool_or(now) ORDER BY n DESC, event COLLATE "C" LIMIT %s)
        UNION ALL
        (SELECT 'page', page, count(*) FILTER (WHERE now) AS n, count(*) FILTER (WHERE NOT now)
         FROM s WHERE event_type = 'page' AND page IS NOT NULL GROUP BY page HAVING bool_or(now)
         ORDER BY n DESC, page COLLATE "C" LIMIT %s)
    """
    with connection.cursor() as cursor:
        budget.apply(cursor)
        cursor.execute(figures_sql, [*scoped_params, p.start, p.previous_start])
        events, events_before, persons, persons_before, new, new_before = cursor.fetchone()
        budget.apply(cursor)
        cursor.execute(top_sql, [*scoped_params, spec.top, spec.top])
        top_rows = cursor.fetchall()
    tops: dict[str, list[dict[str, Any]]] = {"event": [], "page": []}
    for kind, name, count, previous in top_rows:
        tops[kind].append({"event" if kind == "event" else "page": name, **figure(count, previous)})
    return {
        # Written like the range's own bounds (same offset form), whichever way it was given.
        "previous": {"date_from": p.previous_start.astimezone(time_range.start.tzinfo).isoformat(),
                     "date_to": time_range.start.isoformat()},
        "events": figure(events, events_before),
        "persons": figure(persons, persons_before),
        "sessions": figure(*sessions),
        "new_persons": figure(new, new_before),
        "top_events": tops["event"],
        "top_pages": tops["page"],
    }
