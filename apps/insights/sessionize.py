"""Sessions in SQL, shared by the sessions kind, the session filters of trends and funnels, and the
BI view `sessions` (apps/governance/bi/schema.py), so all of them cut sessions the same way.

A session (docs/sessions.md):
- the events carrying one client session id (`COALESCE(events.session_id, properties.$session_id)`),
  whoever's they are;
- else the events of one person (after identity merges) without a client session id, a new session
  starting whenever the gap since that person's previous such event is over the tenant's gap
  (`session_gap_minutes`; exactly the gap continues the session). Ties are ordered by (timestamp, id).
Only the events of the range being looked at are sessionized: a session running across its edge is
cut there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apps.core.exceptions import ValidationFailed
from apps.insights.filters import PERSON, PERSON_JOIN, filter_sql
from apps.insights.spec import PropertyFilter

# The URL of a page view: Segment's properties.url, PostHog's $current_url, Segment's
# context.page.url, or the path alone. NULL for every other event.
PAGE_URL = ("CASE WHEN e.event_type = 'page' THEN COALESCE(e.properties->>'url', e.properties->>'$current_url', "
            "e.context->'page'->>'url', e.properties->>'path') END")
# The client's session id of an event `e`.
CLIENT_SESSION = "COALESCE(e.session_id, e.properties->>'$session_id')"
# The session properties, as a JSON object (absent when null), for session filters.
SESSION_PROPS = ("jsonb_strip_nulls(jsonb_build_object('$entry_page', s.entry_page, '$exit_page', s.exit_page, "
                 "'$session_duration', s.duration, '$event_count', s.event_count, '$page_count', s.page_count))")


def session_events_sql(*, start: datetime, end: datetime, gap_minutes: int, columns: str = "",
                       column_params: list[Any] | None = None) -> tuple[str, list[Any]]:
    """One row per event with start <= timestamp < end: id, ts, person, page (its URL, page views
    only), is_page, skey (its session's key, text), plus `columns` (SQL over `e`, each with its alias
    and a leading comma)."""
    inner = f"""
        SELECT e.id, e."timestamp" AS ts, {PERSON} AS person, {CLIENT_SESSION} AS client,
               {PAGE_URL} AS page, e.event_type = 'page' AS is_page {columns},
               CASE WHEN {CLIENT_SESSION} IS NULL AND e."timestamp" - lag(e."timestamp") OVER (
                        PARTITION BY {PERSON}, {CLIENT_SESSION} IS NULL ORDER BY e."timestamp", e.id)
                        <= %s * interval '1 minute' THEN 0 ELSE 1 END AS starts
        FROM events e
        {PERSON_JOIN}
        WHERE e."timestamp" >= %s AND e."timestamp" < %s
    """
    sql = f"""
        SELECT x.*, CASE WHEN x.client IS NOT NULL THEN 'c' || x.client
                         ELSE 'p' || x.person::text || '-' || sum(x.starts) OVER (
                             PARTITION BY x.person, x.client IS NULL ORDER BY x.ts, x.id)::text END AS skey
        FROM ({inner}) x
    """
    return sql, [*(column_params or []), gap_minutes, start, end]


def sessions_sql(events_sql: str, aggregates: str = "") -> str:
    """One row per session of `events_sql` (session_events_sql's rows): skey, started_at, ended_at,
    duration (seconds), event_count, page_count, entry_page, exit_page, person, plus `aggregates`
    (each with its alias and a leading comma)."""
    return f"""
        SELECT skey, min(ts) AS started_at, max(ts) AS ended_at,
               extract(epoch FROM max(ts) - min(ts))::double precision AS duration,
               count(*) AS event_count, count(*) FILTER (WHERE is_page) AS page_count,
               (array_agg(page ORDER BY ts, id) FILTER (WHERE page IS NOT NULL))[1] AS entry_page,
               (array_agg(page ORDER BY ts DESC, id DESC) FILTER (WHERE page IS NOT NULL))[1] AS exit_page,
               (array_agg(person ORDER BY ts, id))[1] AS person {aggregates}
        FROM ({events_sql}) ev GROUP BY skey
    """


def session_filters_where(filters: list[PropertyFilter], field: str) -> tuple[str, list[Any]]:
    """The AND of the session filters among `filters`, on a session row `s` (sessions_sql's)."""
    parts, params = [], []
    for index, f in enumerate(filters):
        if f.type != "session":
            continue
        sql, values = filter_sql(f, f"{field}[{index}]", column=SESSION_PROPS)
        parts.append(sql)
        params.extend(values)
    return " AND ".join(parts) or "true", params


def has_session_filters(*lists: list[PropertyFilter]) -> bool:
    return any(f.type == "session" for filters in lists for f in filters)


def session_filter_sql(filters: list[PropertyFilter], field: str, *, start: datetime, end: datetime,
                       gap_minutes: int | None) -> tuple[str, list[Any]]:
    """For trends and funnels: `(e.id IN (...))`, the events of [start, end) whose session passes the
    session filters among `filters`; ("", []) when there are none (the query's SQL is then unchanged)."""
    if not has_session_filters(filters):
        return "", []
    if gap_minutes is None:
        raise ValidationFailed("Session filters are not available here.", details={field: "session"})
    where, where_params = session_filters_where(filters, field)
    events_sql, events_params = session_events_sql(start=start, end=end, gap_minutes=gap_minutes)
    # The range's events are read and sessionized once (a CTE local to the subquery).
    sql = f"""(e.id IN (
        WITH se AS MATERIALIZED ({events_sql})
        SELECT se.id FROM se JOIN ({sessions_sql("SELECT * FROM se")}) s ON s.skey = se.skey WHERE {where}))"""
    return sql, [*events_params, *where_params]
