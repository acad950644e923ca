"""When a dataset's newest partition is due, from its calendar and the hour its vendor publishes. Pure.

A partition is *due* once the vendor's promised publishing time for its day has passed
(``DatasetSpec.due_at``). Freshness is judged against the newest due partition, so a weekend or a
holiday never makes a dataset look late, and a vendor that stops publishing does.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from lake_assets.lake.calendars import publishing_days
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.layout import partition_date, partition_key

#: How far back to look for the newest publishing day (longer than any closure of a calendar).
_LOOKBACK = timedelta(days=14)


def newest_due_day(spec: DatasetSpec, now: datetime) -> date | None:
    """Return the newest publishing day whose file was due by ``now`` (aware), or None before the first."""
    today = now.astimezone(spec.due_at(spec.start_date).tzinfo).date()
    candidates = publishing_days(spec.calendar, max(spec.start_date, today - _LOOKBACK),
                                 today + timedelta(days=spec.end_offset))
    due = [day for day in candidates if spec.due_at(day) <= now]
    return due[-1] if due else None


@dataclass(frozen=True)
class DueVerdict:
    """Whether a dataset's newest due partition is curated, and what a reader needs to know when it is not."""

    passed: bool
    detail: str
    metadata: Mapping[str, object]


def days_behind(spec: DatasetSpec, newest: str, due: date) -> int:
    """How many publishing days of ``spec``'s calendar partition ``newest`` is behind the ``due`` day."""
    return len(publishing_days(spec.calendar, partition_date(newest), due)) - 1


def judge_due(spec: DatasetSpec, day: date | None, recorded: str | None, published: Collection[str],
              curated: Collection[str]) -> DueVerdict:
    """The due verdict on ``spec`` (the ``newest_partition_due`` check's, and ``lake run``'s): is ``day``, the newest
    partition due, curated? ``recorded`` is Dagster's status of the day (``"materialized"``, another, or None),
    ``published`` and ``curated`` are the partition keys of the vendor's files and of the curated zone's objects.
    When the day is not curated, it tells a vendor that has not published it (its lag, from its newest file) from
    a lake that has not curated a published day."""
    if day is None:
        return DueVerdict(True, "no partition is due yet", {"detail": "no partition is due yet"})
    key = partition_key(day)
    done = recorded == "materialized"
    newest, vendor_newest = max(curated, default=None), max(published, default=None)
    behind = days_behind(spec, newest, day) if newest else None
    vendor_behind = days_behind(spec, vendor_newest, day) if vendor_newest else None
    why = ("curated" if done
           else f"published, not curated ({recorded or 'missing'})" if key in published
           else f"not published: the vendor's newest file is {vendor_newest}, {vendor_behind} publishing day(s) "
                f"behind" if vendor_newest
           else "not published: the vendor has published nothing")
    detail = (f"{spec.name} {key} was due at {spec.due_at(day).isoformat()}; {why}"
              + (f"; the newest curated partition is {newest}, {behind} publishing day(s) behind"
                 if newest else "; nothing is curated"))
    return DueVerdict(done, detail, {
        "partition": key, "due_at": spec.due_at(day).isoformat(), "newest_curated": newest or "",
        "publishing_days_behind": behind, "vendor_newest": vendor_newest or "", "vendor_days_behind": vendor_behind,
        "detail": detail})
