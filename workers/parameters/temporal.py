"""Date, time, interval and duration parameter types.

Values are rounded down to the parameter's granularity (optionally every
``interval`` units counted from ``start``), as Luigi does, so a task built
from 2024-01-01T10:37 with an hourly parameter is the 10:00 task.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from workers import date_interval
from workers.parameters.base import NO_VALUE, Parameter

_EPOCH = datetime.datetime(1970, 1, 1)


class _DateBase(Parameter):
    date_format = "%Y-%m-%d"
    coerce_strings = True  # Luigi cannot take text here at all, so parsing it is safe

    def __init__(
        self,
        default: Any = NO_VALUE,
        *,
        interval: int = 1,
        start: datetime.date | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(default, **kwargs)
        self.interval = interval
        self.start = start if start is not None else _EPOCH.date()

    def parse(self, x: str) -> datetime.date:
        return datetime.datetime.strptime(x, self.date_format).date()

    def serialize(self, x: Any) -> str:
        return str(x) if x is None else x.strftime(self.date_format)


class DateParameter(_DateBase):
    """A :class:`datetime.date`, written ``YYYY-MM-DD``."""

    expects = "a date as YYYY-MM-DD"

    def normalize(self, x: Any) -> datetime.date | None:
        if x is None:
            return None
        if isinstance(x, datetime.datetime):
            x = x.date()
        offset = (x - self.start).days % self.interval
        return x - datetime.timedelta(days=offset)

    def next_in_enumeration(self, value: datetime.date) -> datetime.date:
        return value + datetime.timedelta(days=self.interval)


def _add_months(day: datetime.date, months: int) -> datetime.date:
    index = day.month - 1 + months
    return datetime.date(day.year + index // 12, index % 12 + 1, 1)


class MonthParameter(DateParameter):
    """A date rounded to the first of its month, written ``YYYY-MM``."""

    date_format = "%Y-%m"
    expects = "a month as YYYY-MM"

    def normalize(self, x: Any) -> datetime.date | None:
        if x is None:
            return None
        if isinstance(x, date_interval.Month):
            x = x.date_a
        months = (x.year - self.start.year) * 12 + (x.month - self.start.month)
        return _add_months(self.start, months - months % self.interval)

    def next_in_enumeration(self, value: datetime.date) -> datetime.date:
        return _add_months(value, self.interval)


class YearParameter(DateParameter):
    """A date rounded to the first of January, written ``YYYY``."""

    date_format = "%Y"
    expects = "a year as YYYY"

    def normalize(self, x: Any) -> datetime.date | None:
        if x is None:
            return None
        if isinstance(x, date_interval.Year):
            x = x.date_a
        offset = (x.year - self.start.year) % self.interval
        return datetime.date(x.year - offset, 1, 1)

    def next_in_enumeration(self, value: datetime.date) -> datetime.date:
        return value.replace(year=value.year + self.interval)


class _DatetimeBase(Parameter):
    date_format: str = ""
    step: datetime.timedelta = datetime.timedelta(hours=1)
    coerce_strings = True

    def __init__(
        self,
        default: Any = NO_VALUE,
        *,
        interval: int = 1,
        start: datetime.datetime | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(default, **kwargs)
        self.interval = interval
        self.start = start if start is not None else _EPOCH

    def parse(self, x: str) -> datetime.datetime:
        return datetime.datetime.strptime(x, self.date_format)

    def serialize(self, x: Any) -> str:
        return str(x) if x is None else x.strftime(self.date_format)

    def normalize(self, x: Any) -> datetime.datetime | None:
        if x is None:
            return None
        if not isinstance(x, datetime.datetime):
            x = datetime.datetime.combine(x, datetime.time.min)
        x = x.replace(microsecond=0)
        elapsed = (x - self.start).total_seconds()
        granularity = (self.step * self.interval).total_seconds()
        return x - datetime.timedelta(seconds=elapsed % granularity)

    def next_in_enumeration(self, value: datetime.datetime) -> datetime.datetime:
        return value + self.step * self.interval


class DateHourParameter(_DatetimeBase):
    """A datetime rounded to the hour, written ``YYYY-MM-DDTHH``."""

    date_format = "%Y-%m-%dT%H"
    step = datetime.timedelta(hours=1)
    expects = "a date and hour as YYYY-MM-DDTHH"


class DateMinuteParameter(_DatetimeBase):
    """A datetime rounded to the minute, written ``YYYY-MM-DDTHHMM``."""

    date_format = "%Y-%m-%dT%H%M"
    step = datetime.timedelta(minutes=1)
    expects = "a date and minute as YYYY-MM-DDTHHMM"

    def parse(self, x: str) -> datetime.datetime:
        try:  # Luigi's older form with an H between hours and minutes
            return datetime.datetime.strptime(x, "%Y-%m-%dT%HH%M")
        except ValueError:
            return super().parse(x)


class DateSecondParameter(_DatetimeBase):
    """A datetime rounded to the second, written ``YYYY-MM-DDTHHMMSS``."""

    date_format = "%Y-%m-%dT%H%M%S"
    step = datetime.timedelta(seconds=1)
    expects = "a date and time as YYYY-MM-DDTHHMMSS"


class DateIntervalParameter(Parameter):
    """A :class:`workers.date_interval.DateInterval`.

    Accepts ``2024``, ``2024-01``, ``2024-W05``, ``2024-01-01`` and
    ``2024-01-01-2024-01-08`` (end exclusive).
    """

    expects = "a date interval as YYYY, YYYY-MM, YYYY-Www, YYYY-MM-DD or YYYY-MM-DD-YYYY-MM-DD"
    coerce_strings = True

    def parse(self, x: str) -> date_interval.DateInterval:
        return date_interval.parse_interval(x)


_UNITS = ("weeks", "days", "hours", "minutes", "seconds")
_ISO_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W|(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?)"
)
_SIMPLE_DURATION = re.compile(
    "".join(
        rf"(?:(?P<{unit}>\d+) ?{unit[0]}(?:{unit[1:-1]})?(?:{unit[-1]})? ?)?" for unit in _UNITS
    )
)


def _duration(pattern: re.Pattern[str], text: str) -> datetime.timedelta | None:
    match = pattern.match(text)
    if not match or not any(match.groups()):
        return None
    return datetime.timedelta(**{k: int(v) for k, v in match.groupdict(default="0").items()})


class TimeDeltaParameter(Parameter):
    """A :class:`datetime.timedelta`.

    Accepts seconds (``90``), ``1 w 2 d 3 h 4 m 5 s`` style (units from longest to
    shortest, words like ``2 days`` allowed) or ISO 8601 (``P2DT3H``, ``P1W``);
    written as ``W w D d H h M m S s``.
    """

    expects = "a duration as seconds, '1 w 2 d 3 h 4 m 5 s' or ISO 8601 like 'P1DT2H'"
    coerce_strings = True

    def parse(self, x: str) -> datetime.timedelta:
        try:
            return datetime.timedelta(seconds=float(x))
        except ValueError:
            pass
        result = _duration(_ISO_DURATION, x) or _duration(_SIMPLE_DURATION, x)
        if result is None:
            raise ValueError(f"cannot parse {x!r} as a duration")
        return result

    def serialize(self, x: datetime.timedelta) -> str:
        weeks, days = divmod(x.days, 7)
        hours, rest = divmod(x.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{weeks} w {days} d {hours} h {minutes} m {seconds} s"
