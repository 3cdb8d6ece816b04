"""Report schedules: validation, and next firings around clock changes (no database)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from apps.core.exceptions import ValidationFailed
from apps.reports.schedules import Schedule

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def firings(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    found = []
    for _ in range(count):
        after = schedule.next_run(after)
        assert after.tzinfo is UTC
        found.append(after)
    return found


# -- daily, across Berlin's 2026 clock changes ---------------------------------------------------------------------

@pytest.mark.parametrize(("start", "change", "utc_hour_before", "utc_hour_after"), [
    (utc(2026, 3, 25, 12), date(2026, 3, 29), 8, 7),  # CET -> CEST
    (utc(2026, 10, 21, 12), date(2026, 10, 25), 7, 8),  # CEST -> CET
])
def test_daily_fires_at_local_time_every_day_across_a_clock_change(start, change, utc_hour_before, utc_hour_after):
    schedule = Schedule("daily", hour=9, minute=0, timezone="Europe/Berlin")
    fires = firings(schedule, start, 10)
    first_day = start.astimezone(BERLIN).date() + timedelta(days=1)
    for index, fire in enumerate(fires):
        local = fire.astimezone(BERLIN)
        assert local.date() == first_day + timedelta(days=index)  # one a day, none skipped or doubled
        assert local.time() == time(9, 0)
        assert fire.hour == (utc_hour_before if local.date() < change else utc_hour_after)
        assert fire.minute == 0


def test_a_time_in_the_spring_gap_fires_after_the_gap_by_the_same_amount():
    schedule = Schedule("daily", hour=2, minute=30, timezone="Europe/Berlin")
    fires = firings(schedule, utc(2026, 3, 28, 12), 2)
    assert fires == [utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]
    assert fires[0].astimezone(BERLIN).time() == time(3, 30)
    # Asked after the jump but before the moved firing: still that day's firing.
    assert schedule.next_run(utc(2026, 3, 29, 1, 10)) == utc(2026, 3, 29, 1, 30)


def test_a_time_in_the_autumn_fold_fires_once_at_its_first_occurrence():
    schedule = Schedule("daily", hour=2, minute=30, timezone="Europe/Berlin")
    fires = firings(schedule, utc(2026, 10, 24, 12), 2)
    assert fires == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]  # 02:30 CEST, then 02:30 CET next day
    # During the repeated hour (02:00 CET, after the first 02:30): not again until the next day.
    assert schedule.next_run(utc(2026, 10, 25, 1, 0)) == utc(2026, 10, 26, 1, 30)


def test_a_gap_time_fires_once_on_every_day_of_the_year():
    schedule = Schedule("daily", hour=2, minute=30, timezone="Europe/Berlin")
    fires = firings(schedule, datetime(2026, 1, 1, tzinfo=BERLIN) - timedelta(seconds=1), 365)
    local_days = [fire.astimezone(BERLIN).date() for fire in fires]
    assert local_days == [date(2026, 1, 1) + timedelta(days=n) for n in range(365)]
    assert {fire.astimezone(BERLIN).time() for fire in fires} == {time(2, 30), time(3, 30)}


def test_a_skipped_day_fires_once_on_the_next():
    # Samoa skipped 30 December 2011 (UTC-10 -> UTC+14): that day's 09:00 fires at 09:00 on the 31st.
    schedule = Schedule("daily", hour=9, minute=0, timezone="Pacific/Apia")
    assert firings(schedule, utc(2011, 12, 29, 12), 3) == [
        utc(2011, 12, 29, 19), utc(2011, 12, 30, 19), utc(2011, 12, 31, 19)]


def test_new_york_daily_across_its_clock_changes():
    schedule = Schedule("daily", hour=9, minute=0, timezone="America/New_York")
    assert firings(schedule, utc(2026, 3, 7, 0), 2) == [utc(2026, 3, 7, 14), utc(2026, 3, 8, 13)]  # EST -> EDT
    assert firings(schedule, utc(2026, 10, 31, 0), 2) == [utc(2026, 10, 31, 13), utc(2026, 11, 1, 14)]


# -- weekly and monthly ----------------------------------------------------------------------------------------------

def test_weekly_fires_on_its_weekday():
    schedule = Schedule("weekly", hour=8, minute=30, weekday=0)
    assert firings(schedule, utc(2026, 3, 25, 12), 3) == [  # a Wednesday
        utc(2026, 3, 30, 8, 30), utc(2026, 4, 6, 8, 30), utc(2026, 4, 13, 8, 30)]
    assert schedule.next_run(utc(2026, 3, 30, 8)) == utc(2026, 3, 30, 8, 30)  # same day, earlier


def test_weekly_on_the_day_of_the_clock_change():
    schedule = Schedule("weekly", hour=9, minute=0, weekday=6, timezone="Europe/Berlin")
    assert firings(schedule, utc(2026, 3, 25), 2) == [utc(2026, 3, 29, 7), utc(2026, 4, 5, 7)]


def test_monthly_on_day_31_uses_the_last_day_of_short_months():
    schedule = Schedule("monthly", hour=6, minute=0, day_of_month=31)
    assert firings(schedule, utc(2027, 1, 1), 5) == [
        utc(2027, 1, 31, 6), utc(2027, 2, 28, 6), utc(2027, 3, 31, 6), utc(2027, 4, 30, 6), utc(2027, 5, 31, 6)]
    assert schedule.next_run(utc(2028, 2, 1)) == utc(2028, 2, 29, 6)  # leap year


def test_monthly_in_new_york():
    schedule = Schedule("monthly", hour=6, minute=0, day_of_month=31, timezone="America/New_York")
    assert firings(schedule, utc(2027, 1, 1), 4) == [
        utc(2027, 1, 31, 11), utc(2027, 2, 28, 11), utc(2027, 3, 31, 10), utc(2027, 4, 30, 10)]


# -- cron --------------------------------------------------------------------------------------------------------------

def test_cron_weekdays_skip_the_weekend_and_follow_the_clock_change():
    schedule = Schedule("cron", cron="0 9 * * 1-5", timezone="Europe/Berlin")
    assert firings(schedule, utc(2026, 3, 26, 12), 3) == [  # Thursday; Sunday 29 March is the change
        utc(2026, 3, 27, 8), utc(2026, 3, 30, 7), utc(2026, 3, 31, 7)]


def test_cron_across_the_spring_gap():
    schedule = Schedule("cron", cron="*/30 * * * *", timezone="Europe/Berlin")
    # 01:30 CET, then 02:00 (missing) as 03:00 CEST; 02:30 (missing) coincides with 03:30 CEST: once.
    assert firings(schedule, utc(2026, 3, 29, 0, 15), 4) == [
        utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1), utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2)]
    gap = Schedule("cron", cron="30 2 * * *", timezone="Europe/Berlin")
    assert gap.next_run(utc(2026, 3, 29, 0)) == utc(2026, 3, 29, 1, 30)
    assert gap.next_run(utc(2026, 3, 29, 1, 10)) == utc(2026, 3, 29, 1, 30)  # after the jump, before 03:30
    assert gap.next_run(utc(2026, 3, 29, 1, 30)) == utc(2026, 3, 30, 0, 30)


def test_cron_in_the_autumn_fold_fires_at_first_occurrences_only():
    schedule = Schedule("cron", cron="*/30 * * * *", timezone="Europe/Berlin")
    # 02:00 and 02:30 CEST; the repeated 02:00 and 02:30 CET are skipped; then 03:00 CET.
    assert firings(schedule, utc(2026, 10, 24, 23, 45), 3) == [
        utc(2026, 10, 25, 0), utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2)]


def test_cron_on_a_skipped_day():
    schedule = Schedule("cron", cron="0 9 * * *", timezone="Pacific/Apia")
    assert firings(schedule, utc(2011, 12, 29, 12), 3) == [
        utc(2011, 12, 29, 19), utc(2011, 12, 30, 19), utc(2011, 12, 31, 19)]


# -- strictly after; any zone for `after` ---------------------------------------------------------------------------

@pytest.mark.parametrize(("schedule", "firing", "following"), [
    (Schedule("daily", timezone="Europe/Berlin"), utc(2026, 6, 1, 7), utc(2026, 6, 2, 7)),
    (Schedule("weekly", weekday=0), utc(2026, 6, 1, 9), utc(2026, 6, 8, 9)),
    (Schedule("monthly", day_of_month=1, timezone="America/New_York"), utc(2026, 6, 1, 13), utc(2026, 7, 1, 13)),
    (Schedule("cron", cron="0 9 * * 1-5", timezone="Europe/Berlin"), utc(2026, 6, 5, 7), utc(2026, 6, 8, 7)),
])
def test_after_equal_to_a_firing_gives_the_next(schedule, firing, following):
    assert schedule.next_run(firing - timedelta(microseconds=1)) == firing
    assert schedule.next_run(firing) == following


def test_after_may_be_in_any_zone():
    schedule = Schedule("daily", timezone="Europe/Berlin")
    result = schedule.next_run(datetime(2026, 6, 1, 8, 59, tzinfo=BERLIN))
    assert result == utc(2026, 6, 1, 7)
    assert result.tzinfo is UTC
    assert schedule.next_run(datetime(2026, 6, 1, 3, 0, tzinfo=NEW_YORK)) == utc(2026, 6, 2, 7)  # = 07:00 UTC
    assert schedule.next_run(datetime(2026, 6, 1, 11, 59, tzinfo=timezone(timedelta(hours=5)))) == utc(2026, 6, 1, 7)


def test_after_must_be_aware():
    with pytest.raises(ValueError):
        Schedule("daily").next_run(datetime(2026, 6, 1))


def test_next_run_checks_the_schedule():
    with pytest.raises(ValidationFailed):
        Schedule("weekly").next_run(utc(2026, 6, 1))


# -- check() -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("schedule", [
    Schedule("daily", hour=0, minute=0),
    Schedule("daily", hour=23, minute=59, timezone="Asia/Kolkata"),
    Schedule("weekly", weekday=6),
    Schedule("monthly", day_of_month=1),
    Schedule("monthly", day_of_month=31),
    Schedule("cron", cron="*/5 * * * *"),
    Schedule("cron", cron="0 9 * * MON-FRI", timezone="Europe/Berlin"),
    Schedule("cron", cron="0 0 29 2 *"),
    Schedule("cron", cron="0 9 * * 1-5", hour=99),  # hour and minute are not used by cron
])
def test_valid_schedules_pass(schedule):
    schedule.check()


@pytest.mark.parametrize(("schedule", "field"), [
    (Schedule("hourly"), "frequency"),
    (Schedule(""), "frequency"),
    (Schedule("daily", hour=24), "hour"),
    (Schedule("daily", hour=-1), "hour"),
    (Schedule("daily", hour=True), "hour"),
    (Schedule("daily", hour="9"), "hour"),
    (Schedule("daily", minute=60), "minute"),
    (Schedule("daily", minute=1.5), "minute"),
    (Schedule("daily", minute=False), "minute"),
    (Schedule("weekly"), "weekday"),
    (Schedule("weekly", weekday=7), "weekday"),
    (Schedule("weekly", weekday=-1), "weekday"),
    (Schedule("weekly", weekday=True), "weekday"),
    (Schedule("monthly"), "day_of_month"),
    (Schedule("monthly", day_of_month=0), "day_of_month"),
    (Schedule("monthly", day_of_month=32), "day_of_month"),
    (Schedule("cron"), "cron"),
    (Schedule("cron", cron="not a cron"), "cron"),
    (Schedule("cron", cron="61 * * * *"), "cron"),
    (Schedule("cron", cron="0 0 9 * * *"), "cron"),  # a seconds field
    (Schedule("cron", cron="@daily"), "cron"),
    (Schedule("cron", cron="0 0 30 2 *"), "cron"),  # never fires
    (Schedule("cron", cron="*/1 * * * *"), "cron"),
    (Schedule("cron", cron="*/4 * * * *"), "cron"),
    (Schedule("cron", cron="0,2 9 * * 1"), "cron"),
    (Schedule("daily", timezone="Mars/Olympus"), "timezone"),
    (Schedule("daily", timezone=""), "timezone"),
    (Schedule("daily", timezone="../../etc/passwd"), "timezone"),
    (Schedule("cron", cron="0 9 * * *", timezone="Europe/Berlinn"), "timezone"),
])
def test_invalid_schedules_name_the_bad_field(schedule, field):
    with pytest.raises(ValidationFailed) as caught:
        schedule.check()
    assert caught.value.details == {field: getattr(schedule, field)}


def test_a_too_frequent_cron_says_why():
    with pytest.raises(ValidationFailed, match="5 minutes"):
        Schedule("cron", cron="*/1 * * * *").check()


# -- describe() --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("schedule", "text"), [
    (Schedule("daily", timezone="Europe/Berlin"), "daily at 09:00 Europe/Berlin"),
    (Schedule("weekly", hour=8, minute=30, weekday=0), "weekly on Monday at 08:30 UTC"),
    (Schedule("monthly", hour=6, day_of_month=31, timezone="America/New_York"),
     "monthly on day 31 at 06:00 America/New_York"),
    (Schedule("cron", cron="0 9 * * 1-5", timezone="Europe/Berlin"), "cron `0 9 * * 1-5` (Europe/Berlin)"),
])
def test_describe(schedule, text):
    assert schedule.describe() == text
