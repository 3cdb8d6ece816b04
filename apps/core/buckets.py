"""Calendar buckets in a time zone: their local starts, and the instants they begin.

Used by every query that groups by time (trends, retention, metric aggregations), so all of them
agree on what "a day in Europe/Paris" is, DST days included.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from django.conf import settings

from apps.core.exceptions import ValidationFailed
from apps.core.timeranges import TimeRange

# Steps on the naive local wall clock (so a DST day is still one day); only months need relativedelta.
_STEP = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1),
         "week": timedelta(weeks=1), "month": relativedelta(months=1)}


def _truncate(local: datetime, interval: str) -> datetime:
    if interval == "minute":
        return local.replace(second=0, microsecond=0)
    if interval == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def bucket_starts(time_range: TimeRange, interval: str) -> list[datetime]:
    """Naive local bucket starts, as PostgreSQL's date_trunc(interval, ts AT TIME ZONE zone) yields."""
    zone = time_range.zone
    current = _truncate(time_range.start.astimezone(zone).replace(tzinfo=None), interval)
    starts = []
    while current.replace(tzinfo=zone).astimezone(time_range.end.tzinfo) < time_range.end:
        starts.append(current)
        if len(starts) > settings.QUERY_MAX_BUCKETS:
            raise ValidationFailed(
                f"The range holds more than {settings.QUERY_MAX_BUCKETS} {interval} buckets; use a coarser interval "
                "or a shorter range.", details={"interval": interval})
        current = current + _STEP[interval]
    return starts


# Zones whose offset never changed (tzdata's UTC aliases and Etc/GMT±N).
_FIXED = re.compile(r"^(Etc/)?(UTC|UCT|GMT|GMT0|GMT[+-]\d{1,2}|Greenwich|Universal|Zulu)$")


def _fixed_offset(zone: ZoneInfo) -> timedelta | None:
    return zone.utcoffset(datetime(2000, 1, 1)) if _FIXED.match(zone.key or "") else None


def _occurrences(local: datetime, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants at which the zone's clock shows `local`: none in a gap, two in a fold."""
    offset = local.replace(tzinfo=zone).utcoffset()
    if local.replace(tzinfo=zone, fold=1).utcoffset() == offset:
        # Neither in a gap nor in a fold: both readings agree (nearly every time).
        return [(local - offset).replace(tzinfo=timezone.utc)]
    found = []
    for fold in (0, 1):
        instant = local.replace(tzinfo=zone, fold=fold).astimezone(timezone.utc)
        if instant.astimezone(zone).replace(tzinfo=None) == local and instant not in found:
            found.append(instant)
    return sorted(found)


def _gap_end(local: datetime, zone: ZoneInfo) -> datetime:
    """For a local time the clock skips: the instant of the jump, the first at which the clock shows
    `local` or later (found by bisection between the readings with the offsets before and after)."""
    low = local.replace(tzinfo=zone, fold=1).astimezone(timezone.utc)  # before the jump
    high = local.replace(tzinfo=zone, fold=0).astimezone(timezone.utc)  # after it
    while high - low > timedelta(microseconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= local:
            high = middle
        else:
            low = middle
    return high


def bucket_bounds(starts: list[datetime], zone: ZoneInfo) -> list[datetime] | None:
    """The instant each bucket begins: the first at which the clock shows its start (or later, for a
    start the clock skips). An event is then in the last bucket whose bound is at or before it,
    which is the bucket holding its local time unless a clock fold carries local times from before
    a bucket start to after it (a minute bucket inside a repeated hour); then None, and buckets are
    computed from each event's local time instead."""
    fixed = _fixed_offset(zone)
    if fixed is not None:  # no gaps or folds: each start is one instant
        return [(start - fixed).replace(tzinfo=timezone.utc) for start in starts]
    bounds = []
    for start in starts:
        before = _occurrences(start - timedelta(microseconds=1), zone)
        at = _occurrences(start, zone)
        if before and at and before[-1] > at[0]:
            return None
        bounds.append(at[0] if at else _gap_end(start, zone))
    return bounds if bounds == sorted(bounds) else None


def timestamps_array(instants: list[datetime]) -> str:
    """`instants` as a PostgreSQL array literal, bound as one text parameter and cast with
    ::timestamptz[] in SQL: much cheaper to send than a list the driver adapts item by item."""
    return "{" + ",".join(instant.isoformat() for instant in instants) + "}"
