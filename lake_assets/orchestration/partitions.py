"""Partition definitions of a dataset: definitions only; the key arithmetic is in ``lake_assets.lake.layout``."""

from __future__ import annotations

import functools

import dagster as dg

from lake_assets.lake.calendars import closes_weekends
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.layout import PARTITION_FORMAT

#: One partition per weekday, for the calendars closed on weekends.
WEEKDAYS = "0 0 * * 1-5"


def daily_partitions(spec: DatasetSpec) -> dg.TimeWindowPartitionsDefinition:
    """One partition per day of the spec's calendar (weekdays only for a calendar closed on weekends), days of
    its timezone, from its start date; nothing here depends on the day the definitions are built.

    No day is excluded by name: a partitions definition travels whole inside every run's partitions subset
    and every planned event Dagster stores, and a list of holidays made each one 34 KB and each check's
    status rebuild 20 s over twenty years. A weekday the calendar closes (a holiday) is a partition that the
    lake records as closed, with no data (:func:`lake_assets.lake.calendars.closure`).

    A day's partition exists from the day its file is due (``spec.end_offset``). A weekday's window runs to
    the next weekday, so Friday's would only end on Monday: a weekday calendar's partitions end one window
    later, and the weekday in progress is a partition (shown missing until its file is due and curated).
    """
    if closes_weekends(spec.calendar):
        return dg.TimeWindowPartitionsDefinition(cron_schedule=WEEKDAYS, start=spec.start_date.strftime(
            PARTITION_FORMAT), fmt=PARTITION_FORMAT, timezone=spec.timezone, end_offset=spec.end_offset + 1)
    return dg.DailyPartitionsDefinition(start_date=spec.start_date.strftime(PARTITION_FORMAT), fmt=PARTITION_FORMAT,
                                        timezone=spec.timezone, end_offset=spec.end_offset)


def monthly_partitions(spec: DatasetSpec) -> dg.MonthlyPartitionsDefinition:
    """One partition per month, for the rollup, including the month in progress (summarised to date)."""
    first = spec.start_date.replace(day=1)
    return dg.MonthlyPartitionsDefinition(start_date=first.strftime(PARTITION_FORMAT), timezone=spec.timezone,
                                          end_offset=1)


def requested_keys_error(partitions: dg.PartitionsDefinition, key_range: dg.PartitionKeyRange) -> str | None:
    """Say why a run's requested partition range is not made of partitions, or None if it is.

    Dagster 1.13 runs a key that is not a partition (a Saturday of a weekday calendar) as the next partition
    instead of refusing it; an asset checks the range it was asked for with this first.
    """
    bad = [key for key in dict.fromkeys((key_range.start, key_range.end)) if not partitions.has_partition_key(key)]
    if not bad:
        return None
    return (f"{', '.join(bad)} {'is not a partition' if len(bad) == 1 else 'are not partitions'}: "
            f"not a day of the dataset's calendar (a weekend), or outside its partitions; nothing was run")


def partition_keys(partitions: dg.PartitionsDefinition) -> tuple[str, ...]:
    """Every key of ``partitions`` now; a sensor asks each tick, and the code server walks the calendar once a day.

    Dagster walks a cron calendar at some 20 us a key: 0.1 CPU s a tick over twenty years of days.
    """
    last = partitions.get_last_partition_key()
    return _keys_through(partitions, last) if last else ()


@functools.lru_cache(maxsize=16)
def _keys_through(partitions: dg.PartitionsDefinition, last: str) -> tuple[str, ...]:
    """Every key of ``partitions`` up to ``last``: a few recent days' lists per definition, not one a day for ever."""
    return tuple(partitions.get_partition_keys_in_range(dg.PartitionKeyRange(partitions.get_first_partition_key(),
                                                                             last)))


@functools.lru_cache(maxsize=8192)
def range_keys(partitions: dg.PartitionsDefinition, start: str, end: str) -> tuple[str, ...]:
    """The keys of ``partitions`` from ``start`` to ``end``, remembered by the code server between ticks: a range
    between two existing keys never changes, and a tick after a twenty-year backfill reads some 180 runs' ranges.
    """
    return tuple(partitions.get_partition_keys_in_range(dg.PartitionKeyRange(start, end)))
