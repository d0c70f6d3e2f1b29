"""Date intervals: a day, an ISO week, a month, a year or a custom range.

``date_a`` is the first day in the interval and ``date_b`` the first day after
it. The string forms match Luigi's (``2024-01-01``, ``2024-W05``, ``2024-01``,
``2024``, ``2024-01-01-2024-01-08``) so interval parameters give the same task ids.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from typing import Any, Self

ONE_DAY = datetime.timedelta(days=1)


class DateInterval:
    """Half-open range of dates ``[date_a, date_b)``."""

    pattern: re.Pattern[str] | None = None

    def __init__(self, date_a: datetime.date, date_b: datetime.date) -> None:
        self.date_a = date_a
        self.date_b = date_b

    def to_string(self) -> str:
        raise NotImplementedError

    @classmethod
    def from_date(cls, d: datetime.date) -> DateInterval:
        raise NotImplementedError

    @classmethod
    def parse(cls, s: str) -> Self | None:
        """The interval written as ``s``, or None if ``s`` is not in this class's form."""
        raise NotImplementedError

    def dates(self) -> list[datetime.date]:
        days = (self.date_b - self.date_a).days
        return [self.date_a + datetime.timedelta(days=i) for i in range(max(days, 0))]

    def hours(self) -> Iterator[datetime.datetime]:
        for day in self.dates():
            for hour in range(24):
                yield datetime.datetime.combine(day, datetime.time(hour))

    def prev(self) -> DateInterval:
        return self.from_date(self.date_a - ONE_DAY)

    def next(self) -> DateInterval:
        return self.from_date(self.date_b)

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return self.to_string()

    def __iter__(self) -> Iterator[datetime.date]:
        return iter(self.dates())

    def __contains__(self, day: object) -> bool:
        return isinstance(day, datetime.date) and self.date_a <= day < self.date_b

    def __hash__(self) -> int:
        return hash(repr(self))

    def _key(self, other: Any) -> tuple[tuple[datetime.date, ...], tuple[datetime.date, ...]]:
        if not isinstance(self, type(other)):
            raise TypeError("Date interval type mismatch")
        return (self.date_a, self.date_b), (other.date_a, other.date_b)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DateInterval):
            return False
        mine, theirs = self._key(other)
        return mine == theirs

    def __lt__(self, other: DateInterval) -> bool:
        mine, theirs = self._key(other)
        return mine < theirs

    def __le__(self, other: DateInterval) -> bool:
        mine, theirs = self._key(other)
        return mine <= theirs

    def __gt__(self, other: DateInterval) -> bool:
        mine, theirs = self._key(other)
        return mine > theirs

    def __ge__(self, other: DateInterval) -> bool:
        mine, theirs = self._key(other)
        return mine >= theirs


class Date(DateInterval):
    def __init__(self, y: int, m: int, d: int) -> None:
        day = datetime.date(y, m, d)
        super().__init__(day, day + ONE_DAY)

    def to_string(self) -> str:
        return self.date_a.strftime("%Y-%m-%d")

    @classmethod
    def from_date(cls, d: datetime.date) -> Date:
        return cls(d.year, d.month, d.day)

    @classmethod
    def parse(cls, s: str) -> Date | None:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
            y, m, d = map(int, s.split("-"))
            return cls(y, m, d)
        return None


class Week(DateInterval):
    """An ISO week (Monday to Sunday) written ``YYYY-Www``."""

    def __init__(self, y: int, w: int) -> None:
        try:
            monday = datetime.date.fromisocalendar(y, w, 1)
        except ValueError as exc:
            raise ValueError(f"Invalid week {y}-W{w:02d}") from exc
        super().__init__(monday, monday + 7 * ONE_DAY)

    def to_string(self) -> str:
        year, week, _ = self.date_a.isocalendar()
        return f"{year}-W{week:02d}"

    @classmethod
    def from_date(cls, d: datetime.date) -> Week:
        year, week, _ = d.isocalendar()
        return cls(year, week)

    @classmethod
    def parse(cls, s: str) -> Week | None:
        if re.fullmatch(r"\d{4}-W\d{2}", s):
            y, w = map(int, s.split("-W"))
            return cls(y, w)
        return None


class Month(DateInterval):
    def __init__(self, y: int, m: int) -> None:
        first = datetime.date(y, m, 1)
        after = datetime.date(y + m // 12, m % 12 + 1, 1)
        super().__init__(first, after)

    def to_string(self) -> str:
        return self.date_a.strftime("%Y-%m")

    @classmethod
    def from_date(cls, d: datetime.date) -> Month:
        return cls(d.year, d.month)

    @classmethod
    def parse(cls, s: str) -> Month | None:
        if re.fullmatch(r"\d{4}-\d{2}", s):
            y, m = map(int, s.split("-"))
            return cls(y, m)
        return None


class Year(DateInterval):
    def __init__(self, y: int) -> None:
        super().__init__(datetime.date(y, 1, 1), datetime.date(y + 1, 1, 1))

    def to_string(self) -> str:
        return self.date_a.strftime("%Y")

    @classmethod
    def from_date(cls, d: datetime.date) -> Year:
        return cls(d.year)

    @classmethod
    def parse(cls, s: str) -> Year | None:
        if re.fullmatch(r"\d{4}", s):
            return cls(int(s))
        return None


class Custom(DateInterval):
    """Any range, written ``YYYY-MM-DD-YYYY-MM-DD`` (the end date is exclusive)."""

    def to_string(self) -> str:
        return f"{self.date_a:%Y-%m-%d}-{self.date_b:%Y-%m-%d}"

    @classmethod
    def parse(cls, s: str) -> Custom | None:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}", s):
            parts = list(map(int, s.split("-")))
            return cls(datetime.date(*parts[:3]), datetime.date(*parts[3:]))
        return None


def parse_interval(s: str) -> DateInterval:
    """Parse any interval form, trying year, month, week, day, then custom range."""
    for kind in (Year, Month, Week, Date, Custom):
        interval = kind.parse(s)
        if interval is not None:
            return interval
    raise ValueError(f"cannot parse {s!r} as a date interval")
