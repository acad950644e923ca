"""Partition definitions of a dataset: definitions only; the key arithmetic is in ``lake_assets.lake.layout``."""

from __future__ import annotations

from datetime import datetime

import dagster as dg

from lake_assets.lake.calendars import CLOSURES_UNTIL, closed_weekdays, closes_weekends
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.layout import PARTITION_FORMAT

#: Cron strings that drop Saturdays and Sundays from a daily partition set.
WEEKEND_EXCLUSIONS = ("0 0 * * 6", "0 0 * * 0")


def daily_partitions(spec: DatasetSpec) -> dg.DailyPartitionsDefinition:
    """One partition per publishing day of the spec's calendar, days of its timezone, from its start date.

    Days the vendor never publishes (weekends, holidays up to :data:`CLOSURES_UNTIL`) are excluded,
    so they are never missing, never requested and never in a backfill range. A day's partition
    exists from the day its file is due (``spec.end_offset``): once the day is over for a vendor that
    publishes afterwards, the day before for day-ahead prices. Nothing here depends on the day the
    definitions are built.
    """
    exclusions: list[str | datetime] = list(WEEKEND_EXCLUSIONS) if closes_weekends(spec.calendar) else []
    exclusions += [datetime(d.year, d.month, d.day) for d in closed_weekdays(spec.calendar, spec.start_date,
                                                                             CLOSURES_UNTIL)]
    return dg.DailyPartitionsDefinition(start_date=spec.start_date.strftime(PARTITION_FORMAT), fmt=PARTITION_FORMAT,
                                        timezone=spec.timezone, end_offset=spec.end_offset,
                                        exclusions=exclusions or None)


def monthly_partitions(spec: DatasetSpec) -> dg.MonthlyPartitionsDefinition:
    """One partition per month, for the rollup, including the month in progress (summarised to date)."""
    first = spec.start_date.replace(day=1)
    return dg.MonthlyPartitionsDefinition(start_date=first.strftime(PARTITION_FORMAT), timezone=spec.timezone,
                                          end_offset=1)


def requested_keys_error(partitions: dg.PartitionsDefinition, key_range: dg.PartitionKeyRange) -> str | None:
    """Say why a run's requested partition range is not made of partitions, or None if it is.

    Dagster 1.13 runs a key excluded from a daily partition set (a Saturday, a holiday) as the next
    partition instead of refusing it; an asset checks the range it was asked for with this first.
    """
    bad = [key for key in dict.fromkeys((key_range.start, key_range.end)) if not partitions.has_partition_key(key)]
    if not bad:
        return None
    return (f"{', '.join(bad)} {'is not a partition' if len(bad) == 1 else 'are not partitions'}: "
            f"not a publishing day of the dataset's calendar, or outside its partitions; nothing was run")
