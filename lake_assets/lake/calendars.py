"""Which days a vendor publishes: pure functions over a named calendar.

``nyse`` is a US equities trading day (weekdays that are not NYSE holidays or special closures, from
the ``holidays`` package); ``daily`` is every day. Days a calendar skips are *not published*, which
is different from *missing*: they are left out of the partitions altogether.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

Calendar = Literal["nyse", "daily"]
CALENDARS: tuple[Calendar, ...] = ("nyse", "daily")
#: The last day whose closures are left out of the partitions. A constant, not "next year": the
#: partitions' identity (which stored backfills and partition statuses refer to) must not change with
#: the day the definitions are imported. Moving it is a reviewed change, due before 2040.
CLOSURES_UNTIL = date(2040, 12, 31)


def closed_weekdays(calendar: Calendar, start: date, end: date) -> list[date]:
    """Return the weekdays in ``[start, end]`` on which ``calendar`` publishes nothing (holidays)."""
    if calendar == "daily":
        return []
    closures = holidays.financial_holidays("NYSE", years=range(start.year, end.year + 1))
    return sorted(day for day in closures if start <= day <= end and day.weekday() < 5)


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
