"""How complete the lake is, per dataset: published, curated, missing, and not published by design."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import Enum

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
    counted missing; ``given_up`` are published days the sensors' healing gave up on (the vendor's current file
    could not be curated; it is requested again when the file changes), not counted missing either
    (:func:`day_verdict` decides each).
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
    given_up: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every published partition is curated from its current file, nothing expected is
        unpublished, no vendor file is dated on a day the calendar closes, none waits in quarantine and none was
        given up."""
        return not (self.missing or self.unpublished or self.off_calendar or self.quarantined or self.given_up)


def by_partition(infos: Iterable[ObjectInfo], date_of: Callable[[str], date]) -> dict[str, ObjectInfo]:
    """Index objects by the partition key their key names; keys outside the layout are left out."""
    indexed: dict[str, ObjectInfo] = {}
    for info in infos:
        try:
            indexed[partition_key(date_of(info.key))] = info
        except LayoutError:
            continue
    return indexed


class Verdict(Enum):
    """What the lake holds of one published day."""

    CURATED = "curated"  # curated from the vendor's current file (or a newer one)
    MISSING = "missing"  # never curated
    OUTDATED = "outdated"  # curated from an older file than the vendor's
    QUARANTINED = "quarantined"  # the vendor's current file went to quarantine: the lake keeps the last good day
    GIVEN_UP = "given up"  # the vendor's current file failed for good: requested again when it changes


#: The verdicts on which the lake lacks a day and a sensor requests it.
LACKING = frozenset({Verdict.MISSING, Verdict.OUTDATED})


def day_verdict(source: ObjectInfo, curated: ObjectInfo | None, quarantined: ObjectInfo | None,
                given_up: bool = False) -> Verdict:
    """The one verdict on a published day, for the sensors' planning, coverage (``lake status``) and ``lake run``'s
    judgement of what is left: ``source`` is the vendor's file, ``curated`` and ``quarantined`` the day's objects in
    those zones, ``given_up`` whether the healing gave the day up (a record in Dagster, read by the caller)."""
    if quarantined is not None and quarantined.last_modified >= source.last_modified:
        return Verdict.QUARANTINED
    if curated is not None and curated.last_modified >= source.last_modified:
        return Verdict.CURATED
    if given_up:
        return Verdict.GIVEN_UP
    return Verdict.MISSING if curated is None else Verdict.OUTDATED


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
             lake: Iterable[ObjectInfo], quarantine: Iterable[ObjectInfo] = (),
             given_up: Collection[str] = ()) -> Coverage:
    """Compare the vendor's files with the curated zone over the published window; ``quarantine`` lists the
    dataset's quarantine prefix, ``given_up`` are the days the healing gave up (Dagster's records)."""
    valid = set(partition_keys)
    vendor = by_partition(source, spec.source.date_of)
    off_calendar = off_calendar_files(partition_keys, vendor)
    published = {key: info for key, info in vendor.items() if key in valid}
    curated = by_partition(lake, spec.curated.date_of)
    held = by_partition(quarantine, spec.quarantine.date_of)
    if not published:
        return Coverage(spec.name, None, None, 0, 0, 0, [], [], 0, len(partition_keys), off_calendar)
    verdicts = {key: day_verdict(info, curated.get(key), held.get(key), key in given_up)
                for key, info in sorted(published.items())}
    first, last = min(published), max(published)
    window = [key for key in partition_keys if first <= key <= last and not closure(spec.calendar,
                                                                                     partition_date(key))]
    missing = [key for key, verdict in verdicts.items() if verdict in LACKING]
    given_up_days = [key for key, verdict in verdicts.items() if verdict is Verdict.GIVEN_UP]
    calendar_days = (partition_date(last) - partition_date(first)).days + 1
    open_days = len(publishing_days(spec.calendar, partition_date(first), partition_date(last)))
    return Coverage(
        dataset=spec.name, first=first, last=last, expected=len(window), published=len(published),
        curated=len(published) - len(missing) - len(given_up_days), missing=missing,
        unpublished=[key for key in window if key not in published], closed_days=calendar_days - open_days,
        after_last=sum(1 for key in partition_keys if key > last), off_calendar=off_calendar,
        quarantined=[key for key, verdict in verdicts.items() if verdict is Verdict.QUARANTINED],
        given_up=given_up_days,
    )
