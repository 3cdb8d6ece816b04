"""Time ranges for queries: ISO 8601 or relative (`-7d`), resolved against a time zone.

Ranges are half-open, [date_from, date_to). A bare date means local midnight in the query's zone.
Relative values count back from now: `-30m` minutes, `-24h` hours, `-7d` days, `-4w` weeks,
`-3M` months, `-1y` years; `now` is now. Defaults: date_from `-7d`, date_to `now`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.relativedelta import relativedelta

from apps.core.exceptions import ValidationFailed

_RELATIVE = re.compile(r"^-(\d{1,5})([mhdwMy])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks", "M": "months", "y": "years"}
# The instants a range may reach: well inside the years 1-9999 that Python's datetime holds, so
# that time zone conversion, calendar bucket alignment and retention horizons (at most 104 months
# after the end) stay representable.
EARLIEST = datetime(100, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9900, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class TimeRange:
    start: datetime  # aware, inclusive
    end: datetime  # aware, exclusive
    zone: ZoneInfo

    @property
    def touches_now(self) -> bool:
        return self.end >= datetime.now(timezone.utc) - timedelta(minutes=1)


def zone_get(name: str, field: str = "timezone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(f"{name!r} is not an IANA time zone.", details={field: name}) from None


def moment_parse(value: str | None, *, zone: ZoneInfo, now: datetime, field: str, default: str) -> datetime:
    text = (value or default).strip()
    if text == "now":
        return now
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = int(relative.group(1)), _UNITS[relative.group(2)]
        try:
            return now - relativedelta(**{unit: amount})
        except (ValueError, OverflowError):  # before year 1
            raise _out_of_range(field, text) from None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=zone)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(f"{field} must be ISO 8601, `now` or relative like -7d.",
                               details={field: text}) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _out_of_range(field: str, text: str) -> ValidationFailed:
    return ValidationFailed(f"{field} must be between {EARLIEST.year} and {LATEST.year} (UTC).",
                            details={field: text})


def range_resolve(*, date_from: str | None, date_to: str | None, zone: ZoneInfo,
                  now: datetime | None = None) -> TimeRange:
    now = now or datetime.now(timezone.utc)
    start = moment_parse(date_from, zone=zone, now=now, field="date_from", default="-7d")
    end = moment_parse(date_to, zone=zone, now=now, field="date_to", default="now")
    for field, value, moment in (("date_from", date_from, start), ("date_to", date_to, end)):
        if not EARLIEST <= moment <= LATEST:
            raise _out_of_range(field, str(value))
    if end <= start:
        raise ValidationFailed("date_to must be after date_from.", details={"date_to": date_to})
    return TimeRange(start=start, end=end, zone=zone)
