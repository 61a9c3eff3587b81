"""NCRONTAB and TimeSpan schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.localhost.schedule import CronSchedule, IntervalSchedule, ScheduleError, parse_schedule

T0 = datetime(2026, 11, 30, 5, 7, 12, 500000, tzinfo=UTC)  # a Monday


def _next(expression: str, after: datetime = T0) -> datetime:
    return parse_schedule(expression).next_after(after)


@pytest.mark.parametrize(("expression", "expected"), [
    ("* * * * * *", datetime(2026, 11, 30, 5, 7, 13, tzinfo=UTC)),
    ("*/5 * * * * *", datetime(2026, 11, 30, 5, 7, 15, tzinfo=UTC)),
    ("0 */5 * * * *", datetime(2026, 11, 30, 5, 10, tzinfo=UTC)),
    ("0 30 9 * * *", datetime(2026, 11, 30, 9, 30, tzinfo=UTC)),
    ("0 0 9-17 * * Mon-Fri", datetime(2026, 11, 30, 9, 0, tzinfo=UTC)),
    ("0 0 0 * * Sat,Sun", datetime(2026, 12, 5, tzinfo=UTC)),
    ("0 0 0 * * 0", datetime(2026, 12, 6, tzinfo=UTC)),
    ("0 0 0 * * 7", datetime(2026, 12, 6, tzinfo=UTC)),  # 7 is Sunday too
    ("0 0 0 1 Jan *", datetime(2027, 1, 1, tzinfo=UTC)),
    ("0 0 12 31 * *", datetime(2026, 12, 31, 12, tzinfo=UTC)),
    ("5,10 8 5 * * *", datetime(2026, 11, 30, 5, 8, 5, tzinfo=UTC)),
    ("0 10/20 * * * *", datetime(2026, 11, 30, 5, 10, tzinfo=UTC)),
    ("0 0 0 29 2 *", datetime(2028, 2, 29, tzinfo=UTC)),
    ("*/15 * * * *", datetime(2026, 11, 30, 5, 15, tzinfo=UTC)),  # 5 fields: no seconds
])
def test_ncrontab_next_occurrence(expression: str, expected: datetime) -> None:
    assert _next(expression) == expected


def test_day_and_day_of_week_must_both_match() -> None:
    # NCrontab semantics: the 13th that is a Friday (Vixie cron would OR them).
    assert _next("0 0 0 13 * Fri") == datetime(2027, 8, 13, tzinfo=UTC)


def test_next_after_is_strictly_after() -> None:
    on_the_dot = datetime(2026, 11, 30, 5, 10, tzinfo=UTC)
    assert _next("0 */5 * * * *", on_the_dot) == on_the_dot + timedelta(minutes=5)


def test_timespan_schedule() -> None:
    schedule = parse_schedule("00:00:01")
    assert isinstance(schedule, IntervalSchedule)
    assert schedule.next_after(T0) == T0 + timedelta(seconds=1)
    assert parse_schedule("1.02:00:00").next_after(T0) == T0 + timedelta(days=1, hours=2)
    assert isinstance(parse_schedule("0 * * * * *"), CronSchedule)


@pytest.mark.parametrize("expression", [
    "* * * *", "60 * * * * *", "* * 24 * * *", "* * * 0 * *", "* * * * 13 *", "*/0 * * * * *",
    "5-1 * * * * *", "x * * * * *", "* * * * Foo *", "00:00:00",
])
def test_bad_schedules_are_refused_with_a_message(expression: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(expression)


def test_a_schedule_that_never_fires_is_refused() -> None:
    with pytest.raises(ScheduleError, match="never fires"):
        _next("0 0 0 31 2 *")
