"""Monthly partitions of the events table, in the current tenant schema (see apps.core.partitions).

- `partitions_ensure`: the current month and EVENT_PARTITIONS_AHEAD months ahead exist.
- `partitions_drop_expired`: drop monthly partitions entirely older than the retention, delete
  expired rows from the default partition, and forget old de-duplication ids.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from django.conf import settings
from django.db import connection

from apps.core.partitions import Month, PartitionedTable

EVENTS = PartitionedTable("events", "timestamp")


def month_of(moment: datetime) -> Month:
    return EVENTS.month_of(moment)


def partitions_list() -> list[str]:
    return EVENTS.partitions()


def partitions_ensure(*, now: datetime | None = None, ahead: int | None = None,
                      since: datetime | None = None) -> list[str]:
    """Create the missing monthly partitions from this month (or the month of `since`, for a
    back-fill about to be loaded) to `ahead` months on. Returns those made."""
    return EVENTS.ensure(now=now or datetime.now(timezone.utc),
                         ahead=ahead if ahead is not None else settings.EVENT_PARTITIONS_AHEAD, since=since)


def partitions_drop_expired(*, retention_days: int, now: datetime | None = None) -> list[str]:
    """Drop what is past the retention, and forget message ids older than EVENT_DEDUPE_DAYS.
    Returns the partitions dropped."""
    now = now or datetime.now(timezone.utc)
    dropped = EVENTS.drop_expired(retention_days=retention_days, now=now)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM event_message_ids WHERE received_at < %s",
                       [now - timedelta(days=settings.EVENT_DEDUPE_DAYS)])
    return dropped
