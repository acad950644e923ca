"""How complete the lake is, per dataset: published, curated, missing, and not published by design."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from lake_assets.lake.calendars import closure, publishing_days
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.layout import LayoutError, partition_date, partition_key
from lake_assets.s3 import ObjectInfo


@dataclass(frozen=True)
class Coverage:
    """One dataset's coverage over the window from its first to its last published partition.

    ``missing`` are published but not curated (or curated from an older source file);
    ``unpublished`` are publishing days on which the vendor has no file (missing at the source);
    ``closed_days`` are days in the window the calendar skips (weekends, and holidays, which are partitions
    recorded as closed): not published, by design;
    ``after_last`` are partitions after the vendor's last file, to date: not published yet (Dagster's
    partition health counts them as missing, so ``expected + after_last`` is Dagster's partition count);
    ``off_calendar`` are vendor files dated on a day that is not a partition (the calendar closes it):
    never curated, so the lake is not complete while one is there (the calendar is wrong, or the file);
    ``quarantined`` are partitions whose vendor file changed since they were curated and the new one did not
    curate: the lake keeps the last good day, the new file waits in quarantine with its reason, and these are not
    counted missing (:func:`lake_lacks`).
    """

    dataset: str
    first: str | None
    last: str | None
    expected: int
    published: int
    curated: int
    missing: list[str]
    unpublished: list[str]
    closed_days: int
    after_last: int = 0
    off_calendar: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every published partition is curated from its current file, nothing expected is
        unpublished, no vendor file is dated on a day the calendar closes and none waits in quarantine."""
        return not self.missing and not self.unpublished and not self.off_calendar and not self.quarantined


def by_partition(infos: Iterable[ObjectInfo], date_of: Callable[[str], date]) -> dict[str, ObjectInfo]:
    """Index objects by the partition key their key names; keys outside the layout are left out."""
    indexed: dict[str, ObjectInfo] = {}
    for info in infos:
        try:
            indexed[partition_key(date_of(info.key))] = info
        except LayoutError:
            continue
    return indexed


def lake_lacks(source: ObjectInfo, curated: ObjectInfo | None, quarantined: ObjectInfo | None) -> bool:
    """The verdict on one published day, for the sensor's planning and for coverage alike: the lake lacks it
    (missing, or curated from an older file than the vendor's) unless its curated object is at least as new as the
    vendor's file, or that file went to quarantine after it was published (a correction that did not curate: the
    lake keeps the last good day, and the day waits for the vendor's next file)."""
    if quarantined is not None and quarantined.last_modified >= source.last_modified:
        return False
    return curated is None or curated.last_modified < source.last_modified


def off_calendar_files(partition_keys: Sequence[str], source: Mapping[str, ObjectInfo]) -> list[str]:
    """The vendor keys of ``source`` (by partition key, as :func:`by_partition` gives) dated on a day that is
    not a partition, up to the last partition (a later file is not due yet), in date order."""
    valid, last = set(partition_keys), partition_keys[-1] if partition_keys else ""
    return [info.key for key, info in sorted(source.items()) if key not in valid and key <= last]


def why_not_a_partition(spec: DatasetSpec, vendor_key: str) -> str:
    """Why a vendor file :func:`off_calendar_files` names is not a partition: it is dated before the dataset's start
    date (the start date is wrong, or the file), or on a day the calendar closes (the calendar, or the file)."""
    day = spec.source.date_of(vendor_key)
    if day < spec.start_date:
        return (f"dated {day}, before the dataset's start_date {spec.start_date} (move start_date in its defs.yaml "
                f"back to curate it)")
    return f"dated {day}, a day the {spec.calendar} calendar closes (the calendar or the file is wrong)"


def coverage(spec: DatasetSpec, partition_keys: Sequence[str], source: Iterable[ObjectInfo],
             lake: Iterable[ObjectInfo], quarantine: Iterable[ObjectInfo] = ()) -> Coverage:
    """Compare the vendor's files with the curated zone over the published window; ``quarantine`` lists the
    dataset's quarantine prefix."""
    valid = set(partition_keys)
    vendor = by_partition(source, spec.source.date_of)
    off_calendar = off_calendar_files(partition_keys, vendor)
    published = {key: info for key, info in vendor.items() if key in valid}
    curated = by_partition(lake, spec.curated.date_of)
    held = by_partition(quarantine, spec.quarantine.date_of)
    waiting = [key for key in sorted(held) if key in published
               and held[key].last_modified >= published[key].last_modified]
    if not published:
        return Coverage(spec.name, None, None, 0, 0, 0, [], [], 0, len(partition_keys), off_calendar)
    first, last = min(published), max(published)
    window = [key for key in partition_keys if first <= key <= last and not closure(spec.calendar,
                                                                                     partition_date(key))]
    missing = [key for key in sorted(published) if lake_lacks(published[key], curated.get(key), held.get(key))]
    calendar_days = (partition_date(last) - partition_date(first)).days + 1
    open_days = len(publishing_days(spec.calendar, partition_date(first), partition_date(last)))
    return Coverage(
        dataset=spec.name, first=first, last=last, expected=len(window), published=len(published),
        curated=len(published) - len(missing), missing=missing,
        unpublished=[key for key in window if key not in published], closed_days=calendar_days - open_days,
        after_last=sum(1 for key in partition_keys if key > last), off_calendar=off_calendar, quarantined=waiting,
    )
