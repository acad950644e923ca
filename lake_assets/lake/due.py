"""When a dataset's newest partition is due, from its calendar and the hour its vendor publishes. Pure.

A partition is *due* once the vendor's promised publishing time for its day has passed
(``DatasetSpec.due_at``). Freshness is judged against the newest due partition, so a weekend or a
holiday never makes a dataset look late, and a vendor that stops publishing does.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from lake_assets.lake.calendars import publishing_days
from lake_assets.lake.datasets import DatasetSpec

#: How far back to look for the newest publishing day (longer than any closure of a calendar).
_LOOKBACK = timedelta(days=14)


def newest_due_day(spec: DatasetSpec, now: datetime) -> date | None:
    """Return the newest publishing day whose file was due by ``now`` (aware), or None before the first."""
    today = now.astimezone(spec.due_at(spec.start_date).tzinfo).date()
    candidates = publishing_days(spec.calendar, max(spec.start_date, today - _LOOKBACK),
                                 today + timedelta(days=spec.end_offset))
    due = [day for day in candidates if spec.due_at(day) <= now]
    return due[-1] if due else None
