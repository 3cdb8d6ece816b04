"""What a tenant tracks: its event names ranked by recent volume, cheaply, for dashboard templates
(apps/dashboards/templates_catalog.py) that build widgets over the tenant's own events.

Semantics, in order:
1. Names: the distinct event names stored (any time within retention), read in name order (the
   column's collation, so that the index serves it) by a loose index scan of (event, timestamp):
   one index probe per name, at most `names_cap` names (the first ones when a tenant has more).
2. Volume: per name, its events with start <= timestamp < end, counted up to `count_cap` (an
   index-only scan that stops there): a name past the cap ranks as `count_cap`.
3. Answer: the `limit` names with a volume > 0, by volume descending, ties by name (bytewise), each
   with the type of its latest event (one index probe).
Every statement reads a bounded number of index entries: names_cap probes plus at most
names_cap * count_cap entries, whatever the size of the events table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

NAMES_CAP = 500
COUNT_CAP = 100_000


@dataclass(frozen=True)
class EventVolume:
    event: str
    event_type: str
    count: int  # capped at count_cap


_VOLUMES = """
WITH RECURSIVE names(event, n) AS (
    (SELECT e.event, 1 FROM events e ORDER BY e.event LIMIT 1)
    UNION ALL
    SELECT (SELECT e.event FROM events e WHERE e.event > names.event ORDER BY e.event LIMIT 1), names.n + 1
    FROM names WHERE names.event IS NOT NULL AND names.n < %s
)
SELECT names.event, volume.n,
       (SELECT e.event_type FROM events e WHERE e.event = names.event ORDER BY e."timestamp" DESC LIMIT 1)
FROM names
CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM (
        SELECT 1 FROM events e WHERE e.event = names.event AND e."timestamp" >= %s AND e."timestamp" < %s LIMIT %s
    ) capped
) volume
WHERE names.event IS NOT NULL AND volume.n > 0
ORDER BY volume.n DESC, names.event COLLATE "C"
LIMIT %s
"""


def event_volumes(*, start: datetime, end: datetime, limit: int = 20, names_cap: int = NAMES_CAP,
                  count_cap: int = COUNT_CAP) -> list[EventVolume]:
    """The current tenant schema's most frequent event names in [start, end) (steps 1-3)."""
    with connection.cursor() as cursor:
        cursor.execute(_VOLUMES, [names_cap, start, end, count_cap, limit])
        return [EventVolume(event=event, count=count, event_type=event_type)
                for event, count, event_type in cursor.fetchall()]


def events_seen(*, names: list[str], start: datetime, end: datetime) -> set[str]:
    """Which of `names` have at least one event in [start, end): one index probe per name."""
    if not names:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT name FROM unnest(%s::text[]) AS name WHERE EXISTS '
            '(SELECT 1 FROM events e WHERE e.event = name AND e."timestamp" >= %s AND e."timestamp" < %s)',
            [list(names), start, end])
        return {row[0] for row in cursor.fetchall()}
