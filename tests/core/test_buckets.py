"""Bucket bounds against local-time truncation, around clock changes (no database)."""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from apps.core.buckets import _truncate, bucket_bounds, bucket_starts
from apps.core.timeranges import TimeRange

CASES = [
    # zone, interval, local start, local end, step between sampled instants
    ("Europe/Paris", "hour", "2026-03-28", "2026-03-30", timedelta(minutes=7)),
    ("Europe/Paris", "hour", "2026-10-24", "2026-10-26", timedelta(minutes=7)),
    ("Europe/Paris", "minute", "2026-03-29T01:30", "2026-03-29T03:30", timedelta(seconds=13)),
    ("America/Sao_Paulo", "day", "2018-02-10", "2018-02-25", timedelta(minutes=11)),  # fall back at midnight
    ("America/Sao_Paulo", "day", "2017-10-10", "2017-10-20", timedelta(minutes=11)),  # spring forward at midnight
    ("Australia/Lord_Howe", "hour", "2026-04-04", "2026-04-06", timedelta(minutes=3)),  # a 30-minute fold
    ("Asia/Kolkata", "week", "2026-01-01", "2026-03-01", timedelta(hours=5)),
    ("America/New_York", "month", "2026-01-01", "2026-12-01", timedelta(hours=9)),
    ("UTC", "hour", "2026-03-28", "2026-03-30", timedelta(minutes=7)),  # fixed offsets take a shortcut
    ("Etc/GMT+5", "day", "2026-03-01", "2026-03-20", timedelta(minutes=37)),
]


@pytest.mark.parametrize(("zone_name", "interval", "local_start", "local_end", "step"), CASES)
def test_an_instant_falls_in_the_bucket_of_its_local_time(zone_name, interval, local_start, local_end, step):
    zone = ZoneInfo(zone_name)
    time_range = TimeRange(start=datetime.fromisoformat(local_start).replace(tzinfo=zone),
                           end=datetime.fromisoformat(local_end).replace(tzinfo=zone), zone=zone)
    starts = bucket_starts(time_range, interval)
    bounds = bucket_bounds(starts, zone)
    assert bounds is not None and bounds == sorted(bounds)
    instant, checked = time_range.start.astimezone(timezone.utc), 0
    while instant < time_range.end:
        expected = _truncate(instant.astimezone(zone).replace(tzinfo=None), interval)
        assert starts[bisect.bisect_right(bounds, instant) - 1] == expected, instant
        instant += step
        checked += 1
    assert checked > 100


def test_a_fold_across_bucket_starts_falls_back_to_local_times():
    zone = ZoneInfo("Europe/Paris")
    time_range = TimeRange(start=datetime(2026, 10, 25, 1, 30, tzinfo=zone),
                           end=datetime(2026, 10, 25, 3, 30, tzinfo=zone), zone=zone)
    assert bucket_bounds(bucket_starts(time_range, "minute"), zone) is None
