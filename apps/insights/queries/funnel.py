"""Funnels: how many persons go through steps 1..n in order, within a window (DESIGN §5).

Semantics, in order:
1. Persons: an event's person is the person owning its distinct_id after identity merges. Events
   are ordered by (timestamp, id).
2. Step events: events of the step's name that pass the query's filters and the step's own.
3. Entries: every step-1 event with date_from <= timestamp < date_to is an entry.
4. Matching, from one entry at t1: step k is the earliest (by timestamp, then id) step-k event whose
   timestamp is at or after the step k-1 match, that is not the step k-1 match's own row, and whose
   timestamp is at most t1 + window. Matching stops at the first step with no such event. Steps may
   fall after date_to, inside the window.
5. A person counts once, with the entry that reaches the furthest step; ties go to the earliest entry.
6. Per step k: count = persons reaching it; conversion_from_start = count_k / count_1;
   conversion_from_previous = count_k / count_(k-1) (step 1: both 1.0 when anyone entered; a division
   by a zero count gives 0.0);
   median_seconds_from_previous = median, with linear interpolation, of (t_k - t_(k-1)) in seconds over
   the persons reaching step k, using the matched times (null for step 1 and for empty steps).
"""

from __future__ import annotations

from typing import Any

from django.db import connection

from apps.core.timeranges import TimeRange
from apps.insights.filters import filters_sql
from apps.insights.segments import segment_condition
from apps.insights.spec import FunnelSpec


def run(spec: FunnelSpec, time_range: TimeRange) -> list[dict[str, Any]]:
    steps = spec.steps
    segment_sql, segment_params = segment_condition(spec.segment)
    ctes, params = [], []
    for index, step in enumerate(steps, 1):
        where, where_params, needs_person = filters_sql([*spec.filters, *step.filters], f"steps[{index - 1}].filters")
        person_join = "LEFT JOIN persons p ON p.id = pdi.person_id" if needs_person else ""
        bounds = 'AND e."timestamp" >= %s AND e."timestamp" < %s' if index == 1 else 'AND e."timestamp" >= %s'
        # Later steps can only match after the range starts and within a window of the last entry.
        bound_params = [time_range.start, time_range.end] if index == 1 else [time_range.start]
        ctes.append(f"""
        step{index} AS MATERIALIZED (
            SELECT COALESCE(pdi.person_id::text, 'd:' || e.distinct_id) AS person, e."timestamp" AS ts, e.id
            FROM events e
            LEFT JOIN person_distinct_ids pdi ON pdi.distinct_id = e.distinct_id
            {person_join}
            WHERE e.event = %s {bounds} AND {where} AND {segment_sql}
        )""")
        params.extend([step.event, *bound_params, *where_params, *segment_params])
    laterals, selects = [], ["step1.person", "step1.ts AS t1", "step1.id AS id1"]
    for k in range(2, len(steps) + 1):
        previous = "step1" if k == 2 else f"m{k - 1}"
        laterals.append(f"""
        LEFT JOIN LATERAL (
            SELECT s.ts, s.id FROM step{k} s
            WHERE s.person = step1.person AND s.ts >= {previous}.ts AND s.id <> {previous}.id
              AND s.ts <= step1.ts + %s::interval
            ORDER BY s.ts, s.id LIMIT 1
        ) m{k} ON true""")
        params.append(f"{spec.window_seconds} seconds")
        selects.append(f"m{k}.ts AS t{k}")
    reached = " + ".join(["1", *(f"(m{k}.ts IS NOT NULL)::int" for k in range(2, len(steps) + 1))])
    per_step = []
    for k in range(1, len(steps) + 1):
        per_step.append(f"count(*) FILTER (WHERE reached >= {k})")
        if k > 1:
            per_step.append(
                f"percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t{k} - t{k - 1})) "
                f"FILTER (WHERE reached >= {k})"
            )
    sql = f"""
        WITH {", ".join(ctes)},
        attempts AS (
            SELECT {", ".join(selects)}, {reached} AS reached
            FROM step1 {"".join(laterals)}
        ),
        best AS (
            SELECT DISTINCT ON (person) * FROM attempts ORDER BY person, reached DESC, t1, id1
        )
        SELECT {", ".join(per_step)} FROM best
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    # The row: count_1, then (count_k, median_k) for k = 2..n.
    counts = [row[0]] + [row[1 + 2 * (k - 2)] for k in range(2, len(steps) + 1)]
    medians = [None] + [row[2 + 2 * (k - 2)] for k in range(2, len(steps) + 1)]
    results = []
    for k, step in enumerate(steps):
        count = counts[k]
        results.append({
            "event": step.event,
            "count": count,
            "conversion_from_start": count / counts[0] if counts[0] else 0.0,
            "conversion_from_previous": (count / counts[k - 1] if counts[k - 1] else 0.0) if k else
            (1.0 if count else 0.0),
            "median_seconds_from_previous": None if medians[k] is None else float(medians[k]),
        })
    return results
