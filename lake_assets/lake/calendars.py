"""Which days a vendor publishes: pure functions over a named calendar.

``nyse`` is a US equities trading day (weekdays that are not NYSE holidays or special closures, from
the ``holidays`` package); ``daily`` is every day. Days a calendar skips are *not published*, which
is different from *missing*. Weekends are left out of the partitions; a weekday the calendar closes
(a holiday) is a partition, recorded as closed (:func:`closure` names it), so that the partitions
need no list of exceptions and a complete lake reads complete.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

Calendar = Literal["nyse", "daily"]
CALENDARS: tuple[Calendar, ...] = ("nyse", "daily")
@lru_cache(maxsize=None)
def _nyse_closures(year: int) -> dict[date, str]:
    """The NYSE's closures of ``year`` that fall on weekdays, with their names."""
    return {day: name for day, name in holidays.financial_holidays("NYSE", years=year).items() if day.weekday() < 5}


def closed_weekdays(calendar: Calendar, start: date, end: date) -> list[date]:
    """Return the weekdays in ``[start, end]`` on which ``calendar`` publishes nothing (holidays)."""
    if calendar == "daily":
        return []
    return sorted(day for year in range(start.year, end.year + 1) for day in _nyse_closures(year)
                  if start <= day <= end)


def closure(calendar: Calendar, day: date) -> str | None:
    """The name of the closure (a holiday) for which ``calendar`` publishes nothing on the weekday ``day``, or
    None when it publishes on that weekday."""
    if calendar == "daily" or day.weekday() >= 5:
        return None
    return _nyse_closures(day.year).get(day)


def closes_weekends(calendar: Calendar) -> bool:
    """Return whether ``calendar`` publishes nothing on Saturdays and Sundays."""
    return calendar == "nyse"


def publishing_days(calendar: Calendar, start: date, end: date) -> list[date]:
    """Return every day in ``[start, end]`` on which ``calendar`` publishes, in order."""
    closed = set(closed_weekdays(calendar, start, end))
    days = (start + timedelta(days=n) for n in range((end - start).days + 1))
    return [day for day in days if day not in closed and not (closes_weekends(calendar) and day.weekday() >= 5)]


def hours_in_day(day: date, zone_name: str) -> int:
    """How many hours the local ``day`` has in ``zone_name``: 24, or 23 and 25 on daylight-saving days."""
    zone = ZoneInfo(zone_name)
    following = day + timedelta(days=1)
    span = (datetime(following.year, following.month, following.day, tzinfo=zone).astimezone(timezone.utc)
            - datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(timezone.utc))
    return int(span.total_seconds() // 3600)
