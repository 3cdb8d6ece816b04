"""Sessions: how many sessions, how long, how deep, per time bucket (docs/sessions.md).

Semantics, in order:
1. Range: only events with date_from <= timestamp < date_to make sessions. A session running across
   the range's edge is cut there: its events outside the range are not part of it.
2. Session key: the client's session id when the event has one (COALESCE(events.session_id,
   properties.$session_id)), whoever's the events are; else the person (after identity merges), a
   new session starting whenever the gap since the person's previous event without a client
   session id is over the tenant's gap (`session_gap_minutes`, default 30; exactly the gap
   continues the session). Ties are ordered by (timestamp, id).
3. Per session: start = its first event's time, end = its last's, duration = end - start in seconds,
   event count, page count (events of type `page`), entry page / exit page = the URL of its first /
   last page event that has one (properties.url, properties.$current_url, context.page.url,
   properties.path), person = its first event's person. A bounce is a session of exactly one event
   (a single page view or a single other event).
4. Bucket: the session belongs to the interval bucket holding its start, in the query's time zone
   (the tenant's by default); buckets as in trends.
5. Filters: event filters keep the sessions having at least one event that passes all of them;
   person filters keep the sessions whose person passes them; `segment` keeps the sessions of the
   segment's persons; session filters (`type: "session"`) read the session's properties:
   $entry_page, $exit_page, $session_duration (seconds), $event_count, $page_count.
6. Breakdown (optional): by an event property (its value on the session's first event), a person
   trait (of the session's person), or a session property ($entry_page, $exit_page); the `limit`
   values with the most sessions (ties: by value, bytewise) each get series, all other values are
   merged into "$other" (as trends).
7. Measures, per bucket and over the whole range (`total`): sessions (count), median_duration
   (percentile_cont 0.5), mean_duration, bounce_rate (bounces / sessions, 0..1), events_per_session
   and pages_per_session (means). Empty buckets: 0 sessions, null for the others.
"""

from __future__ import annotations

from typing import Any

from django.db import connection

from apps.core.buckets import bucket_bounds, bucket_starts, timestamps_array
from apps.core.numbers import json_number
from apps.core.timeranges import TimeRange
from apps.insights import budget
from apps.insights.filters import filter_sql
from apps.insights.queries.trends import OTHER
from apps.insights.segments import segment_condition
from apps.insights.sessionize import session_events_sql, session_filters_where, sessions_sql
from apps.insights.spec import SessionsSpec

_MEASURES = {
    "sessions": "count(*)",
    "median_duration": "percentile_cont(0.5) WITHIN GROUP (ORDER BY duration)",
    "mean_duration": "avg(duration)",
    "bounce_rate": "avg((event_count = 1)::int::double precision)",
    "events_per_session": "avg(event_count::double precision)",
    "pages_per_session": "avg(page_count::double precision)",
}
_SESSION_COLUMNS = {"$entry_page": "s.entry_page", "$exit_page": "s.exit_page"}


def run(spec: SessionsSpec, time_range: TimeRange, *, gap_minutes: int) -> list[dict[str, Any]]:
    starts = bucket_starts(time_range, spec.interval)
    labels = [start.replace(tzinfo=time_range.zone).isoformat() for start in starts]

    # Per event: whether it passes the event filters, and the breakdown's event property.
    columns, column_params, aggregates = "", [], ""
    event_filters = [(i, f) for i, f in enumerate(spec.filters) if f.type == "event"]
    if event_filters:
        parts = []
        for index, f in event_filters:
            sql, values = filter_sql(f, f"filters[{index}]")
            parts.append(sql)
            column_params.extend(values)
        columns += f", ({' AND '.join(parts)}) AS matched"
        aggregates += ", bool_or(matched) AS matched"
    breakdown = spec.breakdown
    if breakdown is not None and breakdown.type == "event":
        columns += ", (e.properties ->> %s) AS first_value"
        column_params.append(breakdown.property)
        aggregates += ", (array_agg(first_value ORDER BY ts, id))[1] AS first_value"
    events_sql, events_params = session_events_sql(start=time_range.start, end=time_range.end,
                                                   gap_minutes=gap_minutes, columns=columns,
                                                   column_params=column_params)

    conditions, condition_params = ["s.matched" if event_filters else "true"], []
    person_filters = [(i, f) for i, f in enumerate(spec.filters) if f.type == "person"]
    for index, f in person_filters:
        sql, values = filter_sql(f, f"filters[{index}]")
        conditions.append(sql)
        condition_params.extend(values)
    session_where, session_params = session_filters_where(spec.filters, "filters")
    conditions.append(session_where)
    condition_params.extend(session_params)
    segment_sql, segment_params = segment_condition(spec.segment, person="s.person")
    conditions.append(segment_sql)
    condition_params.extend(segment_params)
    needs_person = bool(person_filters) or (breakdown is not None and breakdown.type == "person")
    person_join = "LEFT JOIN persons p ON p.id = s.person" if needs_person else ""

    breakdown_sql, breakdown_params = "NULL::text", []
    if breakdown is not None:
        if breakdown.type == "event":
            breakdown_sql = "s.first_value"
        elif breakdown.type == "person":
            breakdown_sql, breakdown_params = "(p.traits ->> %s)", [breakdown.property]
        else:
            breakdown_sql = _SESSION_COLUMNS[breakdown.property]

    bounds = bucket_bounds(starts, time_range.zone)
    if bounds is not None:
        bucket_sql, bucket_params = "width_bucket(s.started_at, %s::timestamptz[])", [timestamps_array(bounds)]
    else:
        bucket_sql, bucket_params = "date_trunc(%s, s.started_at AT TIME ZONE %s)", [spec.interval,
                                                                                   time_range.zone.key]
    kept = f"""
        SELECT {bucket_sql} AS bucket, {breakdown_sql} AS breakdown, s.duration, s.event_count, s.page_count
        FROM ({sessions_sql(events_sql, aggregates)}) s
        {person_join}
        WHERE {" AND ".join(conditions)}
    """
    kept_params = [*bucket_params, *breakdown_params, *events_params, *condition_params]
    if breakdown is None:
        sources, source_params, extra = f"g AS (SELECT k.*, NULL::text AS grp FROM ({kept}) k)", kept_params, ""
        extra_params: list[Any] = []
    else:
        order = 'n DESC, breakdown COLLATE "C" NULLS LAST'
        sources = f"""
            k AS MATERIALIZED ({kept}),
            ranked AS (SELECT breakdown, count(*) AS n FROM k GROUP BY breakdown ORDER BY {order} LIMIT %s),
            top AS (SELECT * FROM ranked ORDER BY {order} LIMIT %s),
            g AS (
                SELECT k.*, CASE WHEN breakdown IS NULL
                                 THEN (CASE WHEN (SELECT bool_or(breakdown IS NULL) FROM top) THEN NULL ELSE %s END)
                                 WHEN breakdown = ANY(ARRAY(SELECT breakdown FROM top)) THEN breakdown ELSE %s END AS grp
                FROM k
            )"""
        source_params = [*kept_params, breakdown.limit + 1, breakdown.limit, OTHER, OTHER]
        extra = f", (SELECT array_agg(breakdown ORDER BY {order}) FROM top), (SELECT count(*) FROM ranked) > %s"
        extra_params = [breakdown.limit]
    measures = ", ".join(_MEASURES[m] for m in spec.measures)
    final = (f"SELECT grp, bucket, GROUPING(bucket) = 1, {measures} {extra} FROM g "
             "GROUP BY GROUPING SETS ((grp, bucket), (grp))")
    with connection.cursor() as cursor:
        budget.apply(cursor)
        cursor.execute(f"WITH {sources} {final}", [*source_params, *extra_params])
        rows = cursor.fetchall()

    n = len(spec.measures)
    groups: list[str | None] = [None]
    if breakdown is not None:
        groups = (list(rows[0][3 + n] or []) + ([OTHER] if rows[0][4 + n] else [])) if rows else []
    per_group: dict[str | None, dict[Any, tuple]] = {group: {} for group in groups}
    totals: dict[str | None, tuple] = {}
    for row in rows:
        group, bucket, whole, values = row[0], row[1], row[2], row[3:3 + n]
        if whole:
            totals[group] = values
        else:
            per_group.setdefault(group, {})[starts[bucket - 1] if bounds is not None else bucket] = values
    series = []
    for group in groups:
        for index, measure in enumerate(spec.measures):
            empty = 0 if measure == "sessions" else None
            values = [_value(per_group[group].get(start), index, empty) for start in starts]
            series.append({"measure": measure, "breakdown_value": group, "buckets": labels, "values": values,
                           "total": _value(totals.get(group), index, empty)})
    return series


def _value(values: tuple | None, index: int, empty: int | None) -> float | int | None:
    return empty if values is None else json_number(values[index])

