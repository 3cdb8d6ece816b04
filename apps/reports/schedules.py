"""Report schedules: when a report fires, as local wall-clock times in an IANA time zone.

`Schedule.next_run(after)` gives the first firing strictly after an aware instant, in UTC. A schedule
says "09:00 in Europe/Berlin", so it fires at 09:00 local all year: 07:00 UTC in summer, 08:00 UTC in
winter. Wall times the clock does not show once are resolved like zoneinfo's `fold=0` reading:

- a time in a spring-forward gap (02:30 in Europe/Berlin on the last Sunday of March) fires as if the
  clock had not jumped yet, i.e. at the same distance after the gap's end as it is after its start
  (02:30 -> 03:30 CEST, 01:30 UTC);
- a time in an autumn fold (02:30 happens twice) fires once, at its first occurrence.

Monthly schedules on a day a month lacks fire on its last day (31 -> Feb 28/29, Apr 30). Cron
expressions (5 fields) are matched against the local wall clock with the same two rules.
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from apps.core.exceptions import ValidationFailed

FREQUENCIES = ("daily", "weekly", "monthly", "cron")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MIN_CRON_INTERVAL = timedelta(minutes=5)
# check() measures the gaps between this many consecutive firings of a cron expression.
_CRON_SAMPLE = 50
_CRON_SAMPLE_FROM = datetime(2026, 1, 1)
_MAX_CRON_CANDIDATES = 10_000
_DAY = timedelta(days=1)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def local_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant a naive local wall time fires at: the `fold=0` reading (see the module docstring)."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(timezone.utc)


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    """False for a wall time in a gap: reading it and converting back gives another wall time."""
    return local_to_utc(wall, zone).astimezone(zone).replace(tzinfo=None) == wall


def _add_months(day: date, months: int) -> tuple[int, int]:
    index = day.year * 12 + day.month - 1 + months
    return index // 12, index % 12 + 1


@dataclass(frozen=True)
class Schedule:
    frequency: str  # "daily" | "weekly" | "monthly" | "cron"
    hour: int = 9  # 0..23 (not used by cron)
    minute: int = 0  # 0..59 (not used by cron)
    weekday: int | None = None  # weekly: 0=Monday..6=Sunday (required for weekly)
    day_of_month: int | None = None  # monthly: 1..31 (required); in short months the last day is used
    cron: str = ""  # cron: a standard 5-field expression, evaluated on local wall-clock time
    timezone: str = "UTC"  # IANA name

    def check(self) -> None:
        """Raise ValidationFailed naming the first bad field in `details`."""
        if self.frequency not in FREQUENCIES:
            self._fail("frequency", f"Unknown frequency; use one of {', '.join(FREQUENCIES)}.")
        self._zone()
        if self.frequency == "cron":
            self._check_cron()
            return
        if not _is_int(self.hour) or not 0 <= self.hour <= 23:
            self._fail("hour", "The hour must be an integer from 0 to 23.")
        if not _is_int(self.minute) or not 0 <= self.minute <= 59:
            self._fail("minute", "The minute must be an integer from 0 to 59.")
        if self.frequency == "weekly" and (not _is_int(self.weekday) or not 0 <= self.weekday <= 6):
            self._fail("weekday", "A weekly schedule needs a weekday from 0 (Monday) to 6 (Sunday).")
        if self.frequency == "monthly" and (not _is_int(self.day_of_month) or not 1 <= self.day_of_month <= 31):
            self._fail("day_of_month", "A monthly schedule needs a day of the month from 1 to 31.")

    def next_run(self, after: datetime) -> datetime:
        """The first firing strictly after the aware instant `after`, as an aware UTC datetime."""
        if after.tzinfo is None or after.utcoffset() is None:
            raise ValueError("next_run needs an aware datetime")
        _check_once(self)
        zone = self._zone()
        if self.frequency == "cron":
            return self._next_cron(after, zone)
        local_day = after.astimezone(zone).date() - _DAY  # a day early: a gap may push a firing past midnight
        at = time(self.hour, self.minute)
        for wall in self._walls(local_day, at):
            fire = local_to_utc(wall, zone)
            if fire > after:
                return fire
        raise AssertionError(f"no firing found for {self!r} after {after}")  # unreachable for a checked schedule

    def describe(self) -> str:
        at = f"{self.hour:02d}:{self.minute:02d} {self.timezone}"
        if self.frequency == "daily":
            return f"daily at {at}"
        if self.frequency == "weekly":
            return f"weekly on {WEEKDAYS[self.weekday]} at {at}"
        if self.frequency == "monthly":
            return f"monthly on day {self.day_of_month} at {at}"
        return f"cron `{self.cron}` ({self.timezone})"

    def _walls(self, start: date, at: time) -> Iterator[datetime]:
        """Naive local firing times from `start` on, in order (bounded: 400 days or 30 months)."""
        if self.frequency == "monthly":
            for months in range(30):
                year, month = _add_months(start.replace(day=1), months)
                day = min(self.day_of_month, calendar.monthrange(year, month)[1])
                yield datetime.combine(date(year, month, day), at)
            return
        for days in range(400):
            day = start + timedelta(days=days)
            if self.frequency == "daily" or day.weekday() == self.weekday:
                yield datetime.combine(day, at)

    def _next_cron(self, after: datetime, zone: ZoneInfo) -> datetime:
        local = after.astimezone(zone)
        # Start early by any jump of the clock in the last day, so that a firing in a gap which began
        # before `after` (and so is moved past it) is still seen.
        jump = local.utcoffset() - (after - _DAY).astimezone(zone).utcoffset()
        start = local.replace(tzinfo=None) - max(jump, timedelta(0))
        candidates = croniter(self.cron, start)
        best: datetime | None = None
        for _ in range(_MAX_CRON_CANDIDATES):
            wall = candidates.get_next(datetime)
            # Candidates come in wall-clock order, which is UTC order except that a wall time moved out of
            # a gap may land after real times that follow it: keep looking until past the best's wall time.
            if best is not None and wall >= best.astimezone(zone).replace(tzinfo=None):
                return best
            fire = local_to_utc(wall, zone)
            if fire > after and (best is None or fire < best):
                if _exists(wall, zone):
                    return fire
                best = fire
        if best is not None:
            return best
        raise AssertionError(f"no firing found for {self!r} after {after}")

    def _zone(self) -> ZoneInfo:
        try:
            if isinstance(self.timezone, str) and self.timezone:
                return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            pass
        self._fail("timezone", "Unknown time zone; use an IANA name such as Europe/Berlin.")

    def _check_cron(self) -> None:
        expression = self.cron
        if not isinstance(expression, str) or len(expression.split()) != 5 or not croniter.is_valid(expression):
            self._fail("cron", "The cron expression must have 5 valid fields: minute hour day month weekday.")
        candidates = croniter(expression, _CRON_SAMPLE_FROM)
        fires: list[datetime] = []
        try:
            while len(fires) < _CRON_SAMPLE:
                fires.append(candidates.get_next(datetime))
        except (CroniterBadDateError, OverflowError):  # never fires, or not again before croniter's last year
            if not fires:
                self._fail("cron", "The cron expression never fires.")
        if any(later - earlier < MIN_CRON_INTERVAL for earlier, later in zip(fires, fires[1:])):
            self._fail("cron", "The cron expression fires more often than every 5 minutes; reports may be sent "
                               "at most once every 5 minutes.")

    def _fail(self, field: str, message: str) -> NoReturn:
        raise ValidationFailed(message, details={field: getattr(self, field)})


@functools.lru_cache(maxsize=1024)
def _check_once(schedule: Schedule) -> None:
    """check(), remembered for valid schedules: the dispatcher's catch-up calls next_run in a loop."""
    schedule.check()
