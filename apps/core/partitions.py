"""Monthly range partitions of a time-keyed table, in the current tenant schema.

A table is created `PARTITION BY RANGE (<time column>)` with a `<table>_default` partition, so no
row is ever refused. Then:
- `ensure`: the current month and `ahead` months after it exist (or from the month of `since`, for
  a back-fill). If the default partition already holds rows of a month being created, they are
  moved into it (PostgreSQL refuses to create a partition whose rows sit in the default one).
- `drop_expired`: drop monthly partitions entirely older than the retention and delete expired rows
  from the default partition.
DDL only; the tables' own apps decide what lives in them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from django.db import connection, transaction


@dataclass(frozen=True)
class Month:
    start: date
    prefix: str

    @property
    def name(self) -> str:
        return f"{self.prefix}{self.start:%Y_%m}"

    @property
    def end(self) -> date:
        return (self.start.replace(day=28) + timedelta(days=4)).replace(day=1)

    def next(self) -> Month:
        return Month(self.end, self.prefix)


@dataclass(frozen=True)
class PartitionedTable:
    table: str  # from code, never from input: it is formatted into DDL
    column: str

    @property
    def prefix(self) -> str:
        return f"{self.table}_p"

    @property
    def default(self) -> str:
        return f"{self.table}_default"

    def month_of(self, moment: datetime) -> Month:
        return Month(moment.astimezone(timezone.utc).date().replace(day=1), self.prefix)

    def partitions(self) -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
                "WHERE p.relname = %s AND n.nspname = current_schema() ORDER BY c.relname",
                [self.table],
            )
            return [row[0] for row in cursor.fetchall()]

    def ensure(self, *, now: datetime, ahead: int, since: datetime | None = None) -> list[str]:
        """Create the missing monthly partitions. Returns those made."""
        last = self.month_of(now)
        for _ in range(ahead):
            last = last.next()
        month = self.month_of(min(since, now) if since is not None else now)
        wanted = [month]
        while month.start < last.start:
            month = month.next()
            wanted.append(month)
        # Earlier months whose (late or back-filled) rows landed in the default partition.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT DISTINCT date_trunc('month', \"{self.column}\" AT TIME ZONE 'UTC')::date FROM {self.default}"
            )
            wanted += [Month(row[0], self.prefix) for row in cursor.fetchall()]
        existing = set(self.partitions())
        made = []
        for month in sorted(set(wanted), key=lambda m: m.start):
            if month.name not in existing:
                self._create(month)
                made.append(month.name)
        return made

    def _create(self, month: Month) -> None:
        bounds = [month.start.isoformat(), month.end.isoformat()]
        column, table, default = self.column, self.table, self.default
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f'SELECT EXISTS (SELECT 1 FROM {default} WHERE "{column}" >= %s AND "{column}" < %s)',
                           bounds)
            if not cursor.fetchone()[0]:
                cursor.execute(f"CREATE TABLE {month.name} PARTITION OF {table} FOR VALUES FROM (%s) TO (%s)", bounds)
                return
            # Rows of this month arrived before its partition existed: move them across.
            cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {default}")
            cursor.execute(f"CREATE TABLE {month.name} PARTITION OF {table} FOR VALUES FROM (%s) TO (%s)", bounds)
            cursor.execute(
                f'WITH moved AS (DELETE FROM {default} WHERE "{column}" >= %s AND "{column}" < %s RETURNING *) '
                f"INSERT INTO {table} SELECT * FROM moved",
                bounds,
            )
            cursor.execute(f"ALTER TABLE {table} ATTACH PARTITION {default} DEFAULT")

    def drop_expired(self, *, retention_days: int, now: datetime) -> list[str]:
        """Drop what is past the retention. Returns the partitions dropped."""
        cutoff = now - timedelta(days=retention_days)
        dropped = []
        with transaction.atomic(), connection.cursor() as cursor:
            for name in self.partitions():
                if not name.startswith(self.prefix):
                    continue
                year, month_number = int(name[-7:-3]), int(name[-2:])
                if Month(date(year, month_number, 1), self.prefix).end <= cutoff.date():
                    cursor.execute(f"DROP TABLE {name}")
                    dropped.append(name)
            cursor.execute(f'DELETE FROM {self.default} WHERE "{self.column}" < %s', [cutoff])
        return dropped
