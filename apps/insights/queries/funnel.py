"""Funnels: how many persons go through steps 1..n in order, within a window (DESIGN §5).

Semantics, in order:
1. Persons: an event's person is the person owning its distinct_id after identity merges. Events
   are ordered by (timestamp, id).
2. Step events: events of the step's name that pass the query's filters and the step's own. A
   session filter keeps the events whose session has the property asked; sessions are cut
   (apps/insights/sessionize.py) from the events the funnel reads, [date_from, date_to + window).
3. Entries: every step-1 event with date_from <= timestamp < date_to is an entry.
4. Matching, from one entry at t1: step k is the earliest (by timestamp, then id) step-k event whose
   timestamp is at or after the step k-1 match, that is not the step k-1 match's own row, and whose
   timestamp is at most t1 + window. Matching stops at the first step with no such event. Steps may
   fall after date_to, inside the window. Only the previous match's row is excluded: with equal
   timestamps a row may serve two non-adjacent steps (A, A, A over two A rows at one instant).
5. A person counts once, with the entry that reaches the furthest step; ties go to the earliest entry.
6. Per step k: count = persons reaching it; conversion_from_start = count_k / count_1;
   conversion_from_previous = count_k / count_(k-1) (step 1: both 1.0 when anyone entered; a division
   by a zero count gives 0.0);
   median_seconds_from_previous = median, with linear interpolation, of (t_k - t_(k-1)) in seconds over
   the persons reaching step k, using the matched times (null for step 1 and for empty steps).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection

from apps.core.timeranges import TimeRange
from apps.insights.filters import (
    PERSON,
    PERSON_JOIN,
    TRAITS_JOIN,
    event_match_sql,
    events_of_steps_sql,
    filters_sql,
)
from apps.insights.segments import segment_condition
from apps.insights.sessionize import session_filter_sql
from apps.insights.spec import FunnelSpec


def run(spec: FunnelSpec, time_range: TimeRange, *, gap_minutes: int | None = None) -> list[dict[str, Any]]:
    """One pass over the steps' events, sorted once per person, latest first.

    Every row gets a global position `g` in the order (person, timestamp DESC, id DESC), so a larger
    g is an earlier row of the same person. For each row r and step k >= 2, `next_k` is the position
    of the row step 4 would match after r:
    - `peer_k`: the earliest step-k row with r's timestamp (its peer group); when it comes before r
      (a smaller id, so a larger g), it is the match: same timestamp, a different row. Only rows
      sharing a timestamp with a neighbour (`tied`, found with lead/lag) are grouped for this;
    - otherwise `later_k`: the earliest step-k row after r in (timestamp, id) order, a window
      aggregate whose frame only grows (the rows before r in the sort).
    So the whole pass is one sort plus linear scans. The chain entry -> m2 -> m3 ... follows the
    positions with equality joins on step-k rows only, checking the window at each step."""
    steps = spec.steps
    where, params, needs_person = filters_sql(spec.filters, "filters", sessions=True)
    # Session filters: sessions are cut from the events the funnel reads, [date_from, date_to + window).
    sessions_end = time_range.end + timedelta(seconds=spec.window_seconds)
    session_sql, session_params = session_filter_sql(spec.filters, "filters", start=time_range.start,
                                                     end=sessions_end, gap_minutes=gap_minutes)
    if session_sql:
        where, params = f"{where} AND {session_sql}", [*params, *session_params]
    segment_sql, segment_params = segment_condition(spec.segment)
    flags, flag_params = [], []
    for index, step in enumerate(steps, 1):
        field = f"steps[{index - 1}].filters"
        step_where, step_params, step_person = filters_sql(step.filters, field, sessions=True)
        step_session, step_session_params = session_filter_sql(step.filters, field, start=time_range.start,
                                                               end=sessions_end, gap_minutes=gap_minutes)
        if step_session:
            step_where, step_params = f"{step_where} AND {step_session}", [*step_params, *step_session_params]
        needs_person |= step_person
        entry = 'AND e."timestamp" < %s' if index == 1 else ""
        match_sql, match_params = event_match_sql(step)
        flags.append(f'({match_sql} {entry} AND {step_where}) AS s{index}')
        flag_params.extend([*match_params, *([time_range.end] if index == 1 else []), *step_params])
    person_join = TRAITS_JOIN if needs_person else ""
    steps_sql, steps_params = events_of_steps_sql(steps)
    window = f"{spec.window_seconds} seconds"
    # Later steps happen at most `window` after an entry, and entries start before date_to.
    rows_sql = f"""
        SELECT {PERSON} AS person, e."timestamp" AS ts, e.id,
               {", ".join(flags)}
        FROM events e
        {PERSON_JOIN}
        {person_join}
        WHERE {steps_sql} AND e."timestamp" >= %s AND e."timestamp" < %s::timestamptz + %s::interval
          AND {where} AND {segment_sql}
    """
    rows_params = [*flag_params, *steps_params, time_range.start, time_range.end, window,
                   *params, *segment_params]
    n = len(steps)
    later = ", ".join(f"max(g) FILTER (WHERE s{k}) OVER later AS later{k}" for k in range(2, n + 1))
    peer = ", ".join(f"max(g) FILTER (WHERE s{k}) AS peer{k}" for k in range(2, n + 1))
    nexts = ", ".join(f"CASE WHEN p.peer{k} > s.g THEN p.peer{k} ELSE s.later{k} END AS next{k}"
                      for k in range(2, n + 1))
    flag_names = ", ".join(f"s{k}" for k in range(1, n + 1))
    joins, selects = [], ["r.person", "r.g AS g1", "r.ts AS t1"]
    for k in range(2, len(steps) + 1):
        previous = "r" if k == 2 else f"m{k - 1}"
        joins.append(f"LEFT JOIN (SELECT g, ts{f', next{k + 1}' if k < n else ''} FROM positioned WHERE s{k}) m{k} "
                     f"ON m{k}.g = {previous}.next{k} AND m{k}.ts <= r.ts + %s::interval")
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
        WITH numbered AS (
            SELECT *, row_number() OVER (ORDER BY person, ts DESC, id DESC) AS g
            FROM ({rows_sql}) step_rows WHERE {" OR ".join(f"s{k}" for k in range(1, n + 1))}
        ),
        scanned AS (
            SELECT person, ts, g, {flag_names}, {later},
                   (lead(ts) OVER ordered = ts OR lag(ts) OVER ordered = ts) AS tied
            FROM numbered
            WINDOW ordered AS (PARTITION BY person ORDER BY ts DESC, id DESC),
                   later AS (ordered ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
        ),
        peers AS (
            SELECT person, ts, {peer} FROM scanned WHERE tied GROUP BY person, ts
        ),
        positioned AS MATERIALIZED (
            SELECT s.person, s.ts, s.g, {", ".join(f"s.s{k}" for k in range(1, n + 1))}, {nexts}
            FROM scanned s LEFT JOIN peers p ON s.tied AND p.person = s.person AND p.ts = s.ts
        ),
        attempts AS (
            SELECT {", ".join(selects)}, {reached} AS reached
            FROM positioned r {" ".join(joins)}
            WHERE r.s1
        ),
        best AS (
            SELECT DISTINCT ON (person) * FROM attempts ORDER BY person, reached DESC, g1 DESC
        )
        SELECT {", ".join(per_step)} FROM best
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*rows_params, *([window] * (len(steps) - 1))])
        row = cursor.fetchone()
    # The row: count_1, then (count_k, median_k) for k = 2..n.
    counts = [row[0]] + [row[1 + 2 * (k - 2)] for k in range(2, len(steps) + 1)]
    medians = [None] + [row[2 + 2 * (k - 2)] for k in range(2, len(steps) + 1)]
    results = []
    for k, step in enumerate(steps):
        count = counts[k]
        results.append({
            "event": step.label,
            "count": count,
            "conversion_from_start": count / counts[0] if counts[0] else 0.0,
            "conversion_from_previous": (count / counts[k - 1] if counts[k - 1] else 0.0) if k else
            (1.0 if count else 0.0),
            "median_seconds_from_previous": None if medians[k] is None else float(medians[k]),
        })
    return results
