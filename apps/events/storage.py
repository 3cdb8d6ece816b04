"""Writing events, in the current tenant schema, in one transaction per request.

1. Claim the batch's message ids in `event_message_ids` (INSERT … ON CONFLICT DO NOTHING
   RETURNING): only ids claimed now are new; a retried batch claims none and writes nothing. A
   concurrent identical batch waits on the unique index until the first commits, then claims none.
2. Give every new distinct id a person of its own.
3. Insert the new events into the partitioned `events` table, each with its distinct id's person.
4. Apply identify traits and merges in order.
The caller answers 2xx only after this transaction commits.
"""

from __future__ import annotations

import logging
from datetime import datetime

import psycopg
from psycopg.types.json import set_json_dumps
from django.db import OperationalError, connection, transaction
from psycopg.errors import DeadlockDetected, SerializationFailure

from apps.events import identity
from apps.events.ingestion import EventRow

logger = logging.getLogger(__name__)

# The end of both statements below. `owners`: the person of every distinct id the batch names,
# from `person_distinct_ids` as it stood, or new. New ids are inserted in sorted order (concurrent
# batches sharing ids wait on each other, never deadlock); an id another batch inserted meanwhile
# conflicts and DO UPDATE hands back its row, so every event gets the id's one person.
_OWNERS = """
), known AS (
    SELECT p.distinct_id, p.person_id FROM person_distinct_ids p WHERE p.distinct_id IN (SELECT d FROM seen)
), new_ids AS (
    INSERT INTO person_distinct_ids (distinct_id, person_id, created_at)
    SELECT d, nextval(pg_get_serial_sequence('persons', 'id')), %(received_at)s FROM seen
    WHERE d NOT IN (SELECT distinct_id FROM known)
    ORDER BY d
    ON CONFLICT (distinct_id) DO UPDATE SET distinct_id = EXCLUDED.distinct_id
    RETURNING distinct_id, person_id, xmax = 0 AS inserted
), new_persons AS (
    INSERT INTO persons (id, traits, created_at, updated_at)
    SELECT person_id, '{}'::jsonb, %(received_at)s, %(received_at)s FROM new_ids WHERE inserted
), owners AS (
    SELECT distinct_id, person_id FROM known UNION ALL SELECT distinct_id, person_id FROM new_ids
"""

# One statement, one round trip: claim the message ids, give new distinct ids their persons,
# insert the new events with their persons. Data-modifying CTEs all run on one snapshot.
INSERT_SQL = """
WITH input AS (
    SELECT * FROM unnest(%(ts)s::timestamptz[], %(event_type)s::text[], %(event)s::text[], %(distinct_id)s::text[],
                         %(user_id)s::text[], %(anonymous_id)s::text[], %(session_id)s::text[],
                         %(message_id)s::text[], %(properties)s::text[], %(context)s::text[]) WITH ORDINALITY
        AS t(ts, event_type, event, distinct_id, user_id, anonymous_id, session_id, message_id, properties,
             context, n)
), claimed AS (
    INSERT INTO event_message_ids (message_id, received_at)
    SELECT message_id, %(received_at)s FROM input ORDER BY n
    ON CONFLICT DO NOTHING
    RETURNING message_id
), fresh AS (
    -- The first occurrence of an id in the batch wins; later copies are duplicates.
    SELECT DISTINCT ON (i.message_id) i.* FROM input i JOIN claimed c ON c.message_id = i.message_id
    ORDER BY i.message_id, i.n
), seen AS (
    SELECT DISTINCT d FROM (SELECT distinct_id AS d FROM fresh UNION ALL SELECT unnest(%(extra_ids)s::text[])) x
""" + _OWNERS + """
), stored AS (
    INSERT INTO events ("timestamp", received_at, event_type, event, distinct_id, person_id, user_id, anonymous_id,
                        session_id, message_id, properties, context)
    SELECT f.ts, %(received_at)s, f.event_type, f.event, f.distinct_id, o.person_id, f.user_id, f.anonymous_id,
           f.session_id, f.message_id, f.properties::jsonb, f.context::jsonb
    FROM fresh f JOIN owners o ON o.distinct_id = f.distinct_id ORDER BY f.n
    RETURNING message_id
)
SELECT message_id FROM stored
"""


# INSERT_SQL for exactly one event, with scalar parameters (cheaper to send than 1-element arrays).
INSERT_ONE_SQL = """
WITH claimed AS (
    INSERT INTO event_message_ids (message_id, received_at) VALUES (%(message_id)s::text, %(received_at)s)
    ON CONFLICT DO NOTHING
    RETURNING message_id
), seen AS (
    SELECT %(distinct_id)s::text AS d FROM claimed
""" + _OWNERS + """
), stored AS (
    INSERT INTO events ("timestamp", received_at, event_type, event, distinct_id, person_id, user_id, anonymous_id,
                        session_id, message_id, properties, context)
    SELECT %(ts)s::timestamptz, %(received_at)s, %(event_type)s::text, %(event)s::text, %(distinct_id)s::text,
           o.person_id, %(user_id)s::text, %(anonymous_id)s::text, %(session_id)s::text, c.message_id,
           %(properties)s::text::jsonb, %(context)s::text::jsonb
    FROM claimed c JOIN owners o ON true
    RETURNING message_id
)
SELECT message_id FROM stored
"""

SMALL_BATCH = 20
# Binary COPY: no text escaping, and the JSON already encoded during validation goes through as is.
COPY_SQL = (
    'COPY events ("timestamp", received_at, event_type, event, distinct_id, person_id, user_id, anonymous_id, '
    "session_id, message_id, properties, context) FROM STDIN (FORMAT BINARY)"
)
COPY_TYPES = ["timestamptz", "timestamptz", "text", "text", "text", "int8", "text", "text", "text", "text", "jsonb",
              "jsonb"]


def events_write(*, rows: list[EventRow], received_at: datetime) -> int:
    """Store `rows` (already validated). Returns how many were new (not seen before)."""
    return len(events_store(rows=rows, received_at=received_at))


def events_store(*, rows: list[EventRow], received_at: datetime) -> list[EventRow]:
    """Store `rows` (already validated). Returns the rows that were new (not seen before), in order:
    a retried batch answers []; the definitions count only these (apps.events.definitions).

    - A few plain events: one statement (INSERT_SQL) in autocommit, one round trip.
    - Larger batches: claim the ids, COPY the new rows, make persons, in one transaction (COPY
      is several times cheaper per row than binding arrays).
    - Identity work (identify traits, merges) follows in the same transaction.
    A deadlock or serialization failure (concurrent merges of the same persons) is retried."""
    if not rows:
        return []
    for attempt in range(3):
        try:
            return _write(rows, received_at)
        except (OperationalError, DeadlockDetected, SerializationFailure) as exc:
            # Django wraps the driver's error (OperationalError from ...); the raw cursor does not.
            cause = exc if isinstance(exc, (DeadlockDetected, SerializationFailure)) else exc.__cause__
            if attempt == 2 or not isinstance(cause, (DeadlockDetected, SerializationFailure)):
                raise
            logger.warning("retrying an event write after a deadlock/serialization failure")
    return []


def _rows_of(rows: list[EventRow], message_ids: list[str]) -> list[EventRow]:
    """The first row of each stored message id (later copies in the batch were duplicates)."""
    wanted = set(message_ids)
    found = []
    for row in rows:
        if row.message_id in wanted:
            wanted.discard(row.message_id)
            found.append(row)
    return found


def _write(rows: list[EventRow], received_at: datetime) -> list[EventRow]:
    identity_rows = [row for row in rows if row.merge_from or row.traits or row.traits_once]
    if len(rows) <= SMALL_BATCH and not identity_rows:
        return _rows_of(rows, _insert(rows, received_at))
    with transaction.atomic(), connection.cursor() as cursor:
        if len(rows) <= SMALL_BATCH:
            new_rows = _rows_of(rows, _insert(rows, received_at))
            stored = {row.message_id for row in new_rows}
        else:
            fresh = _claim(cursor, rows, received_at)
            owners = identity.persons_ensure(cursor, {row.distinct_id for row in fresh}
                                             | {row.merge_from for row in rows if row.merge_from})
            _copy(cursor, fresh, owners, received_at)
            stored = {row.message_id for row in fresh}
            new_rows = fresh
        for row in identity_rows:
            if row.message_id not in stored:
                continue  # a retried identify/alias: applied the first time
            stored.discard(row.message_id)
            if row.merge_from and row.merge_from != row.distinct_id:
                identity.persons_merge(cursor, source=row.merge_from, target=row.distinct_id)
            if row.traits_once:
                identity.person_set_traits(cursor, distinct_id=row.distinct_id, traits=row.traits_once,
                                           overwrite=False)
            if row.traits:
                identity.person_set_traits(cursor, distinct_id=row.distinct_id, traits=row.traits)
    return new_rows


def _insert(rows: list[EventRow], received_at: datetime) -> list[str]:
    """Run INSERT_SQL; returns the message ids stored.

    On a server-binding psycopg cursor, not Django's client-binding one: parameters are sent
    apart from the SQL (no quoting in Python) and psycopg prepares the statement on the
    connection after a few runs, so PostgreSQL stops re-planning it. A prepared plan is re-planned
    by PostgreSQL when search_path changes, so it never reads another tenant's tables."""
    # Django's cursor() connects and has django-tenants set the tenant's search_path.
    connection.cursor().close()
    with psycopg.Cursor(connection.connection) as cursor:
        if len(rows) == 1 and not rows[0].merge_from:
            row = rows[0]
            cursor.execute(INSERT_ONE_SQL, {
                "ts": row.timestamp, "event_type": row.event_type, "event": row.event,
                "distinct_id": row.distinct_id, "user_id": row.user_id, "anonymous_id": row.anonymous_id,
                "session_id": row.session_id, "message_id": row.message_id,
                "properties": row.json_properties.decode(), "context": row.json_context.decode(),
                "received_at": received_at,
            })
        else:
            cursor.execute(INSERT_SQL, _params(rows, received_at))
        return [row[0] for row in cursor.fetchall()]


def _params(rows: list[EventRow], received_at: datetime) -> dict:
    return {
        "ts": [row.timestamp for row in rows],
        "event_type": [row.event_type for row in rows],
        "event": [row.event for row in rows],
        "distinct_id": [row.distinct_id for row in rows],
        "user_id": [row.user_id for row in rows],
        "anonymous_id": [row.anonymous_id for row in rows],
        "session_id": [row.session_id for row in rows],
        "message_id": [row.message_id for row in rows],
        "properties": [row.json_properties.decode() for row in rows],
        "context": [row.json_context.decode() for row in rows],
        "extra_ids": sorted({row.merge_from for row in rows if row.merge_from}),
        "received_at": received_at,
    }


def _claim(cursor, rows: list[EventRow], received_at: datetime) -> list[EventRow]:  # noqa: ANN001
    """The rows whose message ids are new (first occurrence in the batch wins)."""
    cursor.execute(
        "INSERT INTO event_message_ids (message_id, received_at) SELECT unnest(%s::text[]), %s "
        "ON CONFLICT DO NOTHING RETURNING message_id",
        [[row.message_id for row in rows], received_at],
    )
    claimed = {row[0] for row in cursor.fetchall()}
    fresh = []
    for row in rows:
        if row.message_id in claimed:
            claimed.discard(row.message_id)
            fresh.append(row)
    return fresh


def _copy(cursor, rows: list[EventRow], owners: dict[str, int], received_at: datetime) -> None:  # noqa: ANN001
    raw = cursor.cursor
    # On this cursor only: jsonb values are our bytes, already valid JSON (msgspec encoded them).
    set_json_dumps(_already_json, context=raw)
    with raw.copy(COPY_SQL) as copy:
        copy.set_types(COPY_TYPES)
        for row in rows:
            copy.write_row((
                row.timestamp, received_at, row.event_type, row.event, row.distinct_id, owners[row.distinct_id],
                row.user_id, row.anonymous_id, row.session_id, row.message_id, row.json_properties, row.json_context,
            ))


def _already_json(value: bytes) -> bytes:
    return value


def events_delete_for(*, distinct_ids: list[str]) -> int:
    """Delete every event of these distinct ids (all partitions). Returns the rows deleted."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM events WHERE distinct_id = ANY(%s)", [distinct_ids])
        return cursor.rowcount
