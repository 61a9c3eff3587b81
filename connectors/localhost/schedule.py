"""Timer schedules as Azure Functions reads them: NCRONTAB (6 or 5 fields) and TimeSpan (``hh:mm:ss``).

NCRONTAB fields: ``{second} {minute} {hour} {day} {month} {day-of-week}`` (5 fields: no seconds).
Each field takes ``*``, ``n``, ``a-b``, lists ``a,b``, steps ``*/n`` and ``a-b/n``; months and days of
the week also by English abbreviation (``Jan``, ``Mon``); day-of-week 0 (or 7) is Sunday. As in
NCrontab (unlike Vixie cron) a date must match both the day and the day-of-week field.
Times are UTC, the Functions default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connectors.localhost.config import HostConfigError, parse_timespan

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_NAMES = ("second", "minute", "hour", "day", "month", "day-of-week")
_BOUNDS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_TIMESPAN_LIKE = re.compile(r"^\s*(\d+\.)?\d{1,2}:\d{1,2}:\d{1,2}(\.\d+)?\s*$")
_SEARCH_YEARS = 5  # e.g. Feb 29 on a Monday needs up to 28 years; Functions would not run it either


class ScheduleError(HostConfigError):
    """A timer schedule that is neither NCRONTAB nor TimeSpan."""


def _value(token: str, index: int, expression: str) -> int:
    names = _MONTHS if index == 4 else _DAYS if index == 5 else None
    low = token.lower()
    if names is not None and low[:3] in names and low.isalpha():
        return names.index(low[:3]) + (1 if index == 4 else 0)
    if not token.isdigit():
        raise ScheduleError(f"NCRONTAB {expression!r}: {_NAMES[index]} field has {token!r}, not a number")
    number = int(token)
    lo, hi = _BOUNDS[index]
    if not lo <= number <= hi:
        raise ScheduleError(f"NCRONTAB {expression!r}: {_NAMES[index]} {number} is outside {lo}-{hi}")
    return number


def _field(text: str, index: int, expression: str) -> frozenset[int]:
    lo, hi = _BOUNDS[index]
    if index == 5:
        hi = 6
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"NCRONTAB {expression!r}: bad step {part!r} in {_NAMES[index]}")
            step = int(step_text)
        if base == "*":
            start, end = lo, hi
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _value(first, index, expression), _value(last, index, expression)
            if start > end:
                raise ScheduleError(f"NCRONTAB {expression!r}: range {base!r} runs backwards")
        else:
            start = _value(base, index, expression)
            end = hi if step_text else start  # "5/15" means from 5 every 15, as in NCrontab
        values.update(range(start, end + 1, step))
    if index == 5 and 7 in values:
        values.discard(7)
        values.add(0)
    return frozenset(values)


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        fields = expression.split()
        if len(fields) == 5:
            fields = ["0", *fields]
        if len(fields) != 6:
            raise ScheduleError(
                f"NCRONTAB {expression!r} has {len(fields)} fields; expected 6: "
                "{second} {minute} {hour} {day} {month} {day-of-week}, e.g. \"0 */5 * * * *\""
            )
        parsed = [_field(text, i, expression) for i, text in enumerate(fields)]
        return cls(expression, *parsed)

    def _day_matches(self, moment: datetime) -> bool:
        return (moment.day in self.days and moment.month in self.months
                and (moment.isoweekday() % 7) in self.weekdays)

    def next_after(self, after: datetime) -> datetime:
        """The first matching instant strictly after ``after`` (aware datetimes, UTC)."""
        moment = after.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
        limit = moment + timedelta(days=366 * _SEARCH_YEARS)
        while moment < limit:
            if not self._day_matches(moment):
                moment = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0)
            elif moment.hour not in self.hours:
                moment = (moment + timedelta(hours=1)).replace(minute=0, second=0)
            elif moment.minute not in self.minutes:
                moment = (moment + timedelta(minutes=1)).replace(second=0)
            elif moment.second not in self.seconds:
                moment += timedelta(seconds=1)
            else:
                return moment
        raise ScheduleError(f"NCRONTAB {self.expression!r} never fires within {_SEARCH_YEARS} years")


@dataclass(frozen=True)
class IntervalSchedule:
    """A TimeSpan schedule: every interval, counted from when the host started the timer."""

    expression: str
    interval: timedelta

    def next_after(self, after: datetime) -> datetime:
        return after + self.interval


Schedule = CronSchedule | IntervalSchedule


def parse_schedule(expression: str) -> Schedule:
    """A binding's ``schedule``: TimeSpan when it looks like ``hh:mm:ss``, NCRONTAB otherwise."""
    if _TIMESPAN_LIKE.match(expression):
        seconds = parse_timespan(expression)
        if seconds <= 0:
            raise ScheduleError(f"TimeSpan schedule {expression!r} must be longer than zero")
        return IntervalSchedule(expression, timedelta(seconds=seconds))
    return CronSchedule.parse(expression)
