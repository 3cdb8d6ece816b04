"""Writing events, in the current tenant schema, in one transaction per request.

1. Claim the batch's message ids in `event_message_ids` (INSERT … ON CONFLICT DO NOTHING
   RETURNING): only ids claimed now are new; a retried batch claims none and writes nothing. A
   concurrent identical batch waits on the unique index until the first commits, then claims none.
2. COPY the new events into the partitioned `events` table.
3. Give every new distinct id a person of its own; apply identify traits and merges in order.
The caller answers 2xx only after this transaction commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from django.db import connection, transaction

from apps.events import identity
from apps.events.ingestion import EventRow

COPY_SQL = (
    'COPY events ("timestamp", received_at, event_type, event, distinct_id, user_id, anonymous_id, session_id, '
    "message_id, properties, context) FROM STDIN"
)


def events_write(*, rows: list[EventRow], received_at: datetime) -> int:
    """Store `rows` (already validated). Returns how many were new (not seen before)."""
    if not rows:
        return 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            claimed = _claim_message_ids(cursor, [row.message_id for row in rows], received_at)
            fresh: list[EventRow] = []
            for row in rows:
                # The first occurrence of an id in the batch wins; later copies are duplicates.
                if row.message_id in claimed:
                    claimed.discard(row.message_id)
                    fresh.append(row)
            if fresh:
                _copy(cursor, fresh, received_at)
                identity.persons_ensure(cursor, {row.distinct_id for row in fresh}
                                        | {row.merge_from for row in fresh if row.merge_from})
                for row in fresh:
                    if row.merge_from and row.merge_from != row.distinct_id:
                        identity.persons_merge(cursor, source=row.merge_from, target=row.distinct_id)
                    if row.traits_once:
                        identity.person_set_traits(cursor, distinct_id=row.distinct_id, traits=row.traits_once,
                                                   overwrite=False)
                    if row.traits:
                        identity.person_set_traits(cursor, distinct_id=row.distinct_id, traits=row.traits)
    return len(fresh)


def _claim_message_ids(cursor, message_ids: list[str], received_at: datetime) -> set[str]:  # noqa: ANN001
    cursor.execute(
        "INSERT INTO event_message_ids (message_id, received_at) SELECT unnest(%s::text[]), %s "
        "ON CONFLICT DO NOTHING RETURNING message_id",
        [message_ids, received_at],
    )
    return {row[0] for row in cursor.fetchall()}


def _copy(cursor, rows: Iterable[EventRow], received_at: datetime) -> None:  # noqa: ANN001
    with cursor.cursor.copy(COPY_SQL) as copy:
        for row in rows:
            copy.write_row((
                row.timestamp, received_at, row.event_type, row.event, row.distinct_id, row.user_id,
                row.anonymous_id, row.session_id, row.message_id, row.json_properties.decode(),
                row.json_context.decode(),
            ))


def events_delete_for(*, distinct_ids: list[str]) -> int:
    """Delete every event of these distinct ids (all partitions). Returns the rows deleted."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM events WHERE distinct_id = ANY(%s)", [distinct_ids])
        return cursor.rowcount
