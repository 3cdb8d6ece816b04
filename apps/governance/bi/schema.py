"""The BI schema of a tenant: stable, documented views over its tables, for BI login roles.

Each tenant gets a schema `bi_<slug>` (never a tenant schema: those are `t_<slug>`) holding only
views. The views are owned by the application's role and name the tenant's tables by schema, so
a role reading them needs SELECT on the views alone, never a right on the tables (a view reads
with its owner's rights). Their columns are a public contract (docs/governance.md, "Direct SQL
for BI tools"): add columns at the end, never rename or drop one without a new VERSION.

This is a schema definition for outside readers, not a query the engine answers, hence here
rather than in apps/insights; it states the same semantics (a person is COALESCE(override,
stored person), see apps/events/identity.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from apps.insights.sessionize import CLIENT_SESSION, PAGE_URL

# Bumped when a view's definition changes: the views of each BI schema are then made again (as
# they are when the tenant's session gap changes: it is part of the schema's stamp).
VERSION = 2


@dataclass(frozen=True)
class View:
    name: str
    description: str
    body: str  # SQL; {t} is the tenant schema


# The URL of a page view and the client's session id: the query engine's (sessions are cut alike).
_PAGE = PAGE_URL

VIEWS: tuple[View, ...] = (
    View("events", "Every stored event, with the person its distinct id resolves to after merges.", """
        SELECT e.id, e."timestamp", e.received_at, e.event_type, e.event, e.distinct_id,
               COALESCE(po.person_id, e.person_id) AS person_id,
               e.user_id, e.anonymous_id,
               COALESCE(e.session_id, e.properties->>'$session_id') AS session_id,
               e.properties, e.context
        FROM {t}.events e LEFT JOIN {t}.person_overrides po ON po.old_person_id = e.person_id
    """),
    View("persons", "Persons (merged identities) with their distinct ids and traits.", """
        SELECT p.id,
               COALESCE((SELECT array_agg(d.distinct_id ORDER BY d.distinct_id)
                         FROM {t}.person_distinct_ids d WHERE d.person_id = p.id), '{{}}'::text[]) AS distinct_ids,
               p.traits, p.created_at, p.updated_at
        FROM {t}.persons p
    """),
    View("person_distinct_ids", "Which person each distinct id belongs to (one row per id).", """
        SELECT d.distinct_id, d.person_id, d.created_at FROM {t}.person_distinct_ids d
    """),
    View("sessions", "Sessions: a client's session id, or a person's events with no gap over the tenant's "
                     "session gap (session_gap_minutes, 30 by default).", f"""
        WITH ev AS (
            SELECT e.id, e."timestamp", COALESCE(po.person_id, e.person_id) AS person_id,
                   {CLIENT_SESSION} AS client_session,
                   {_PAGE} AS page
            FROM {{t}}.events e LEFT JOIN {{t}}.person_overrides po ON po.old_person_id = e.person_id
        ), gaps AS (
            SELECT ev.*, CASE WHEN ev."timestamp" - lag(ev."timestamp") OVER (
                                   PARTITION BY ev.person_id ORDER BY ev."timestamp", ev.id)
                              <= {{gap}} * interval '1 minute' THEN 0 ELSE 1 END AS starts
            FROM ev WHERE ev.client_session IS NULL
        ), keyed AS (
            SELECT id, "timestamp", person_id, page, 'client' AS source, client_session AS key
            FROM ev WHERE client_session IS NOT NULL
            UNION ALL
            SELECT id, "timestamp", person_id, page, 'inferred',
                   person_id::text || '#' || sum(starts) OVER (PARTITION BY person_id ORDER BY "timestamp", id)::text
            FROM gaps
        )
        SELECT CASE WHEN source = 'client' THEN key
                    ELSE 'p' || min(person_id)::text || '-'
                         || (extract(epoch FROM min("timestamp")) * 1000)::bigint::text END AS id,
               source,
               (array_agg(person_id ORDER BY "timestamp", id))[1] AS person_id,
               min("timestamp") AS started_at,
               max("timestamp") AS ended_at,
               extract(epoch FROM max("timestamp") - min("timestamp"))::double precision AS duration_seconds,
               count(*) AS event_count,
               (array_agg(page ORDER BY "timestamp", id) FILTER (WHERE page IS NOT NULL))[1] AS entry_page,
               (array_agg(page ORDER BY "timestamp" DESC, id DESC) FILTER (WHERE page IS NOT NULL))[1] AS exit_page
        FROM keyed GROUP BY source, key
    """),
    View("metrics", "Metric definitions.", """
        SELECT m.id, m.name, m.display_name, m.metric_type, m.unit, m.description, m.dimensions, m.tags,
               m.created_at, m.updated_at
        FROM {t}.metrics m
    """),
    View("metric_values", "Every recorded metric value, with its metric's name.", """
        SELECT v.id, v.metric_id, m.name AS metric, v."timestamp", v.value, v.dimensions, v.received_at
        FROM {t}.metric_values v JOIN {t}.metrics m ON m.id = v.metric_id
    """),
    View("metric_rollups", "Per-minute, hour and day aggregates of metric values (UTC buckets), over all "
                           "values (all_series) and per dimension combination.", """
        SELECT r.metric_id, m.name AS metric,
               CASE r.granularity WHEN 1 THEN 'minute' WHEN 60 THEN 'hour' ELSE 'day' END AS granularity,
               r.bucket, r.series = 0 AS all_series, s.dimensions,
               r.count, r.sum, r.min, r.max, r.sum / NULLIF(r.count, 0) AS avg,
               r.last_value, r.last_ts AS last_timestamp
        FROM {t}.metric_rollups r JOIN {t}.metrics m ON m.id = r.metric_id
        LEFT JOIN {t}.metric_series s ON s.metric_id = r.metric_id AND s.series = r.series AND r.series <> 0
    """),
    View("segments", "Segment definitions and their last computed size.", """
        SELECT s.id, s.name, s.display_name, s.description, s.size, s.refreshed_at, s.created_at, s.updated_at
        FROM {t}.segments s
    """),
    View("segment_members", "The persons in each segment, as of its last refresh.", """
        SELECT sm.segment_id, s.name AS segment, sm.person_id
        FROM {t}.segment_members sm JOIN {t}.segments s ON s.id = sm.segment_id
    """),
)

VIEW_NAMES = tuple(view.name for view in VIEWS)


def bi_schema_name(slug: str) -> str:
    """`bi_<slug>`: slugs are lowercase letters, digits and hyphens, so this is a plain identifier
    that no tenant schema (`t_…`) nor another tenant's BI schema can share."""
    return "bi_" + slug.replace("-", "_")


def _stamp(gap_minutes: int) -> str:
    return f"analytics BI views, version {VERSION}, session gap {gap_minutes} minutes"


def bi_views_ensure(cursor, *, tenant_schema: str, bi_schema: str, gap_minutes: int = 30) -> bool:  # noqa: ANN001
    """Make the BI schema and its views unless they are current (this VERSION, this session gap).
    Whether they were (re)made: the caller then grants SELECT again to the tenant's roles (dropping a
    view drops its grants). Call inside a transaction; two callers are serialised by an advisory lock."""
    cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"bi-schema:{bi_schema}"])
    cursor.execute("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s", [bi_schema])
    row = cursor.fetchone()
    if row is not None and row[0] == _stamp(gap_minutes):
        cursor.execute("SELECT count(*) FROM pg_views WHERE schemaname = %s AND viewname = ANY(%s)",
                       [bi_schema, list(VIEW_NAMES)])
        if cursor.fetchone()[0] == len(VIEWS):
            return False
    bi, tenant = sql.Identifier(bi_schema), sql.Identifier(tenant_schema)
    cursor.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(bi))
    # Nobody but the owner and the roles granted below may use it (schemas grant nothing to PUBLIC).
    for view in reversed(VIEWS):
        cursor.execute(sql.SQL("DROP VIEW IF EXISTS {}.{}").format(bi, sql.Identifier(view.name)))
    for view in VIEWS:
        # The body is this module's constant SQL; the only names put in are quoted identifiers.
        body = sql.SQL(view.body.replace("{t}", "{tenant}")).format(tenant=tenant, gap=sql.Literal(int(gap_minutes)))
        target = sql.SQL("{}.{}").format(bi, sql.Identifier(view.name))
        cursor.execute(sql.SQL("CREATE VIEW {} AS {}").format(target, body))
        cursor.execute(sql.SQL("COMMENT ON VIEW {} IS {}").format(target, sql.Literal(view.description)))
    cursor.execute(sql.SQL("COMMENT ON SCHEMA {} IS {}").format(bi, sql.Literal(_stamp(gap_minutes))))
    return True


def bi_schema_drop(cursor, *, bi_schema: str) -> None:  # noqa: ANN001
    cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(bi_schema)))
