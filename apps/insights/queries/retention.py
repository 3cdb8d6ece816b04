"""Retention: of the persons who did `start_event`, how many came back with `return_event` in each
following period (DESIGN §5).

Semantics, in order:
1. Persons: an event's person is the person owning its distinct_id after identity merges.
2. Filters: the query's filters apply to both the start and the return events (AND); person
   filters read the person's traits.
3. Cohort: a person's cohort is the calendar period (day, week from Monday, month; in the query's
   time zone) holding their first `start_event` inside [date_from, date_to).
4. Retained in period k (1..N): the person did `return_event` at a time in period cohort + k, even if
   that period lies after date_to.
5. Answer: one cohort per period from the one holding date_from to the last one starting before
   date_to, each present even when empty: {"start", "size", "retained": [size, k=1..N]}.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dateutil.relativedelta import relativedelta
from django.db import connection

from apps.core.timeranges import TimeRange
from apps.insights.filters import PERSON, PERSON_JOIN, TRAITS_JOIN, filters_sql
from apps.insights.segments import segment_condition
from apps.core.buckets import bucket_starts
from apps.insights.spec import RetentionSpec

_STEP = {"day": relativedelta(days=1), "week": relativedelta(weeks=1), "month": relativedelta(months=1)}
# Periods between two period starts, from an allow-list keyed by the validated period.
_PERIODS_BETWEEN = {
    "day": "(r.period::date - c.cohort::date)",
    "week": "((r.period::date - c.cohort::date) / 7)",
    "month": "((extract(year FROM r.period) - extract(year FROM c.cohort)) * 12 "
             "+ extract(month FROM r.period) - extract(month FROM c.cohort))::int",
}


def run(spec: RetentionSpec, time_range: TimeRange) -> list[dict[str, Any]]:
    starts = bucket_starts(time_range, spec.period)
    where, params, needs_person = filters_sql(spec.filters, "filters")
    segment_sql, segment_params = segment_condition(spec.segment)
    person_join = TRAITS_JOIN if needs_person else ""
    events_of = f"""
        SELECT {PERSON} AS person, e."timestamp" AS ts
        FROM events e
        {PERSON_JOIN}
        {person_join}
        WHERE e.event = %s AND e."timestamp" >= %s AND e."timestamp" < %s AND {where} AND {segment_sql}
    """
    # Returns are looked for up to N periods after the last cohort's period.
    horizon = (starts[-1] + _STEP[spec.period] * (spec.periods + 1)).replace(tzinfo=time_range.zone) \
        if starts else time_range.end
    zone = time_range.zone.key
    sql = f"""
        WITH firsts AS (
            SELECT person, min(ts) AS first FROM ({events_of}) s GROUP BY person
        ), cohorts AS (
            SELECT person, date_trunc(%s, first AT TIME ZONE %s) AS cohort FROM firsts
        ), returns AS (
            SELECT DISTINCT person, date_trunc(%s, ts AT TIME ZONE %s) AS period FROM ({events_of}) s
        )
        SELECT c.cohort, {_PERIODS_BETWEEN[spec.period]} AS k, count(DISTINCT c.person)
        FROM cohorts c JOIN returns r ON r.person = c.person
        WHERE r.period > c.cohort
        GROUP BY 1, 2
        UNION ALL
        SELECT cohort, 0, count(*) FROM cohorts GROUP BY 1
    """
    query_params = [
        spec.start_event, time_range.start, time_range.end, *params, *segment_params,
        spec.period, zone, spec.period, zone,
        spec.return_event, time_range.start, horizon, *params, *segment_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, query_params)
        rows = cursor.fetchall()
    counts: dict[tuple[datetime, int], int] = {(cohort, k): n for cohort, k, n in rows}
    return [
        {
            "start": start.replace(tzinfo=time_range.zone).isoformat(),
            "size": counts.get((start, 0), 0),
            "retained": [counts.get((start, k), 0) for k in range(spec.periods + 1)],
        }
        for start in starts
    ]
