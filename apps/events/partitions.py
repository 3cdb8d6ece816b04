"""Monthly partitions of the events table, in the current tenant schema.

- `partitions_ensure`: the current month and EVENT_PARTITIONS_AHEAD months ahead exist. If the
  default partition already holds rows of a month being created, they are moved into it (PostgreSQL
  refuses to create a partition whose rows sit in the default one).
- `partitions_drop_expired`: drop monthly partitions entirely older than the retention, delete
  expired rows from the default partition, and forget old de-duplication ids.
DDL on the events table only; analytics SQL lives in apps/insights.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from django.conf import settings
from django.db import connection, transaction

PARTITION_PREFIX = "events_p"


@dataclass(frozen=True)
class Month:
    start: date

    @property
    def name(self) -> str:
        return f"{PARTITION_PREFIX}{self.start:%Y_%m}"

    @property
    def end(self) -> date:
        return (self.start.replace(day=28) + timedelta(days=4)).replace(day=1)

    def next(self) -> Month:
        return Month(self.end)


def month_of(moment: datetime) -> Month:
    return Month(moment.astimezone(timezone.utc).date().replace(day=1))


def partitions_list() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
            "WHERE p.relname = 'events' AND n.nspname = current_schema() ORDER BY c.relname"
        )
        return [row[0] for row in cursor.fetchall()]


def partitions_ensure(*, now: datetime | None = None, ahead: int | None = None,
                      since: datetime | None = None) -> list[str]:
    """Create the missing monthly partitions from this month (or the month of `since`, for a
    back-fill about to be loaded) to `ahead` months on. Returns those made."""
    now = now or datetime.now(timezone.utc)
    last = month_of(now)
    for _ in range(ahead if ahead is not None else settings.EVENT_PARTITIONS_AHEAD):
        last = last.next()
    month = month_of(min(since, now) if since is not None else now)
    wanted = [month]
    while month.start < last.start:
        month = month.next()
        wanted.append(month)
    # Earlier months whose (late or back-filled) events landed in the default partition.
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT date_trunc('month', \"timestamp\" AT TIME ZONE 'UTC')::date FROM events_default")
        wanted += [Month(row[0]) for row in cursor.fetchall()]
    existing = set(partitions_list())
    made = []
    for month in sorted(set(wanted), key=lambda m: m.start):
        if month.name not in existing:
            _create(month)
            made.append(month.name)
    return made


def _create(month: Month) -> None:
    bounds = [month.start.isoformat(), month.end.isoformat()]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            'SELECT EXISTS (SELECT 1 FROM events_default WHERE "timestamp" >= %s AND "timestamp" < %s)', bounds
        )
        if not cursor.fetchone()[0]:
            cursor.execute(
                f"CREATE TABLE {month.name} PARTITION OF events FOR VALUES FROM (%s) TO (%s)", bounds
            )
            return
        # Rows of this month arrived before its partition existed: move them across.
        cursor.execute("ALTER TABLE events DETACH PARTITION events_default")
        cursor.execute(f"CREATE TABLE {month.name} PARTITION OF events FOR VALUES FROM (%s) TO (%s)", bounds)
        cursor.execute(
            'WITH moved AS (DELETE FROM events_default WHERE "timestamp" >= %s AND "timestamp" < %s RETURNING *) '
            "INSERT INTO events SELECT * FROM moved",
            bounds,
        )
        cursor.execute("ALTER TABLE events ATTACH PARTITION events_default DEFAULT")


def partitions_drop_expired(*, retention_days: int, now: datetime | None = None) -> list[str]:
    """Drop what is past the retention. Returns the partitions dropped."""
    now = now or datetime.now(timezone.utc)
    cutoff = now - timedelta(days=retention_days)
    dropped = []
    with transaction.atomic(), connection.cursor() as cursor:
        for name in partitions_list():
            if not name.startswith(PARTITION_PREFIX):
                continue
            year, month_number = int(name[-7:-3]), int(name[-2:])
            if Month(date(year, month_number, 1)).end <= cutoff.date():
                cursor.execute(f"DROP TABLE {name}")
                dropped.append(name)
        cursor.execute('DELETE FROM events_default WHERE "timestamp" < %s', [cutoff])
        cursor.execute("DELETE FROM event_message_ids WHERE received_at < %s",
                       [now - timedelta(days=settings.EVENT_DEDUPE_DAYS)])
    return dropped
