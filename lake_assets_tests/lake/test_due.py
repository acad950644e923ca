"""When a dataset's newest partition is due: its calendar, its timezone and the hour its vendor publishes."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from lake_assets.lake.datasets import DAY_AGGS, NODAL_PRICES, DatasetSpec
from lake_assets.lake.due import newest_due_day

NEW_YORK, CHICAGO = ZoneInfo("America/New_York"), ZoneInfo("America/Chicago")


@pytest.mark.parametrize(("spec", "now", "expected"), [
    (DAY_AGGS, datetime(2024, 1, 9, 10, 59, tzinfo=NEW_YORK), date(2024, 1, 5)),  # Monday's file not out yet
    (DAY_AGGS, datetime(2024, 1, 9, 11, 0, tzinfo=NEW_YORK), date(2024, 1, 8)),   # Tuesday 11:00: Monday
    (DAY_AGGS, datetime(2024, 1, 8, 12, 0, tzinfo=NEW_YORK), date(2024, 1, 5)),   # Monday: Friday, not Sunday
    (DAY_AGGS, datetime(2024, 1, 16, 12, 0, tzinfo=NEW_YORK), date(2024, 1, 12)),  # after Martin Luther King Jr. Day
    (NODAL_PRICES, datetime(2024, 1, 8, 12, 59, tzinfo=CHICAGO), date(2024, 1, 8)),  # day-ahead: today's prices
    (NODAL_PRICES, datetime(2024, 1, 8, 13, 0, tzinfo=CHICAGO), date(2024, 1, 9)),   # and tomorrow's after 13:00
    (DAY_AGGS, datetime(2024, 1, 2, tzinfo=NEW_YORK), None),  # before the first file was due
])
def test_the_newest_due_day_follows_the_calendar_and_the_publishing_hour(spec: DatasetSpec, now: datetime,
                                                                         expected: date | None) -> None:
    assert newest_due_day(spec, now) == expected


def test_a_day_ahead_dataset_has_tomorrows_partition() -> None:
    assert (DAY_AGGS.end_offset, NODAL_PRICES.end_offset) == (0, 2)
    assert NODAL_PRICES.due_at(date(2024, 3, 10)) == datetime(2024, 3, 9, 13, tzinfo=CHICAGO)  # across DST
