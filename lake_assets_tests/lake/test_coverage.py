"""Coverage tells published-and-curated, missing in the lake, missing at the source, and closed days apart."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone

from lake_assets.lake.calendars import publishing_days
from lake_assets.lake.coverage import Verdict, coverage, day_verdict
from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.lake.layout import partition_key
from lake_assets.lake.planning import PlanCursor, plan_tick
from lake_assets.s3 import ObjectInfo

T0 = datetime(2024, 6, 1, tzinfo=timezone.utc)
DAYS = publishing_days("nyse", date(2024, 1, 2), date(2024, 1, 31))
KEYS = [partition_key(d) for d in DAYS]
#: The partitions of the weekday calendar over the same span: the publishing days and MLK day.
WEEKDAY_KEYS = [partition_key(date(2024, 1, 2) + timedelta(days=n)) for n in range(30)
                if (date(2024, 1, 2) + timedelta(days=n)).weekday() < 5]


def test_coverage_separates_missing_unpublished_and_closed_days() -> None:
    published = [d for d in DAYS if d != DAYS[4]]
    source = [ObjectInfo(DAY_AGGS.source.key(d), 1, "e", T0) for d in published]
    curated = [ObjectInfo(DAY_AGGS.curated.key(d), 1, "c", T0 + timedelta(hours=1)) for d in published[:-2]]
    stale = ObjectInfo(DAY_AGGS.curated.key(published[0]), 1, "c", T0 - timedelta(hours=1))
    result = coverage(DAY_AGGS, KEYS, source, [stale, *curated[1:]])
    assert (result.first, result.last) == (KEYS[0], KEYS[-1])
    assert result.expected == len(DAYS) and result.published == len(DAYS) - 1
    assert result.missing == [KEYS[0], partition_key(published[-2]), partition_key(published[-1])]
    assert result.unpublished == [KEYS[4]]
    assert result.closed_days == 30 - len(DAYS)  # weekends and MLK day between Jan 2 and Jan 31
    assert not result.complete


def test_no_vendor_files_means_no_window() -> None:
    result = coverage(DAY_AGGS, KEYS, [], [])
    assert result.first is None and result.expected == 0 and result.complete


def test_a_vendor_file_on_a_weekend_is_counted_and_the_lake_is_not_complete() -> None:
    saturday, later = date(2024, 1, 6), date(2024, 2, 3)  # a weekend, and a Saturday not due yet
    source = [ObjectInfo(DAY_AGGS.source.key(d), 1, "e", T0) for d in [*DAYS, saturday, later]]
    curated = [ObjectInfo(DAY_AGGS.curated.key(d), 1, "c", T0 + timedelta(hours=1)) for d in DAYS]
    result = coverage(DAY_AGGS, WEEKDAY_KEYS, source, curated)
    assert not result.missing and not result.unpublished and result.published == len(DAYS)
    assert result.off_calendar == [DAY_AGGS.source.key(saturday)]
    assert not result.complete


def test_a_holiday_is_a_partition_neither_expected_nor_unpublished_and_a_file_on_it_is_curated_like_any() -> None:
    mlk = date(2024, 1, 15)
    source = [ObjectInfo(DAY_AGGS.source.key(d), 1, "e", T0) for d in DAYS]
    curated = [ObjectInfo(DAY_AGGS.curated.key(d), 1, "c", T0 + timedelta(hours=1)) for d in DAYS]
    closed = coverage(DAY_AGGS, WEEKDAY_KEYS, source, curated)
    assert closed.expected == len(DAYS) and not closed.unpublished and closed.complete
    published = coverage(DAY_AGGS, WEEKDAY_KEYS, [*source, ObjectInfo(DAY_AGGS.source.key(mlk), 1, "e", T0)],
                         curated)
    assert published.missing == ["2024-01-15"] and not published.off_calendar  # published: to be curated


def test_a_quarantined_correction_is_counted_apart_not_missing_and_the_lake_is_not_complete() -> None:
    source = [ObjectInfo(DAY_AGGS.source.key(d), 1, "e", T0 + timedelta(hours=2 if d == DAYS[3] else 0)) for d in DAYS]
    curated = [ObjectInfo(DAY_AGGS.curated.key(d), 1, "c", T0 + timedelta(hours=1)) for d in DAYS]
    waiting = [ObjectInfo(DAY_AGGS.quarantine.key(DAYS[3]), 1, "q", T0 + timedelta(hours=3)),
               ObjectInfo(DAY_AGGS.quarantine_reason.key(DAYS[3]), 1, "r", T0 + timedelta(hours=3))]
    result = coverage(DAY_AGGS, KEYS, source, curated, waiting)
    assert result.quarantined == [KEYS[3]] and result.missing == [] and not result.complete
    assert coverage(DAY_AGGS, KEYS, source, curated).missing == [KEYS[3]]  # without quarantine: a newer file
    later = [*source[:3], dataclasses.replace(source[3], last_modified=T0 + timedelta(hours=4)), *source[4:]]
    again = coverage(DAY_AGGS, KEYS, later, curated, waiting)  # the vendor's next correction: to be curated
    assert again.missing == [KEYS[3]] and again.quarantined == []
    # the sensor plans by the same verdict: a quarantined correction is not requested, the next one is
    assert plan_tick(DAY_AGGS, KEYS, source, curated, PlanCursor(), 1.0, 3600, 1000, quarantined=waiting).runs == []
    assert [run.keys for run in plan_tick(DAY_AGGS, KEYS, later, curated, PlanCursor(), 1.0, 3600, 1000,
                                          quarantined=waiting).runs] == [(KEYS[3],)]


def test_one_verdict_per_day_for_coverage_and_the_sensor() -> None:
    source = ObjectInfo(DAY_AGGS.source.key(DAYS[0]), 1, "e", T0)
    older, newer = (ObjectInfo(DAY_AGGS.curated.key(DAYS[0]), 1, "c", T0 + timedelta(hours=h)) for h in (-1, 1))
    held = ObjectInfo(DAY_AGGS.quarantine.key(DAYS[0]), 1, "q", T0 + timedelta(hours=1))
    assert [day_verdict(source, curated, None) for curated in (None, older, newer)] == [
        Verdict.MISSING, Verdict.OUTDATED, Verdict.CURATED]
    assert day_verdict(source, older, held) is Verdict.QUARANTINED  # the lake keeps the last good day
    assert day_verdict(source, None, None, given_up=True) is Verdict.GIVEN_UP
    assert day_verdict(source, newer, None, given_up=True) is Verdict.CURATED  # curated since: given up no more


def test_a_day_given_up_is_counted_apart_not_missing_not_requested_and_the_lake_is_not_complete() -> None:
    source = [ObjectInfo(DAY_AGGS.source.key(d), 1, "e", T0) for d in DAYS]
    curated = [ObjectInfo(DAY_AGGS.curated.key(d), 1, "c", T0 + timedelta(hours=1)) for d in DAYS if d != DAYS[2]]
    result = coverage(DAY_AGGS, KEYS, source, curated, given_up={KEYS[2]})
    assert (result.given_up, result.missing, result.curated) == ([KEYS[2]], [], len(DAYS) - 1)
    assert not result.complete
    assert plan_tick(DAY_AGGS, KEYS, source, curated, PlanCursor(), 1.0, 3600, 1000, given_up={KEYS[2]}).runs == []
    assert [run.keys for run in plan_tick(DAY_AGGS, KEYS, source, curated, PlanCursor(), 1.0, 3600, 1000).runs] == [
        (KEYS[2],)]
