"""The sweep as pure functions: a window a tick, the whole history within the interval, new files at once."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from lake_assets.lake.calendars import publishing_days
from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.lake.layout import partition_key
from lake_assets.lake.planning import Plan, PlanCursor, plan_tick
from lake_assets.lake.sweep import MIN_SWEEP, advance, sweep_since, sweep_size, sweep_window
from lake_assets.s3 import ObjectInfo

T0 = datetime(2024, 6, 1, tzinfo=timezone.utc)
ALL = publishing_days("nyse", date(2023, 1, 3), date(2024, 3, 28))
KEYS = [partition_key(day) for day in ALL]
DAYS, NEWEST = ALL[:-1], ALL[-1]  # 311 days published, then one more


def source(days: list[date]) -> list[ObjectInfo]:
    return [ObjectInfo(DAY_AGGS.source.key(day), 10, f"e{day:%Y%m%d}", T0) for day in days]


def curated(days: list[date]) -> list[ObjectInfo]:
    return [ObjectInfo(DAY_AGGS.curated.key(day), 10, "c", T0 + timedelta(hours=1)) for day in days]


def tick(vendor: list[ObjectInfo], lake: list[ObjectInfo], cursor: PlanCursor, size: int, now: float,
         cap: int = 1000) -> tuple[Plan, PlanCursor, int]:
    """One tick as the sensor makes it, over in-memory listings; also how many vendor files it read."""
    window, wraps = sweep_window((info for info in vendor if cursor.sweep is None or info.key > cursor.sweep),
                                 size, cursor.after)
    new = [info for info in vendor if cursor.after is not None and info.key > cursor.after]
    plan = plan_tick(DAY_AGGS, KEYS, [*window, *new], lake, PlanCursor(cursor.after, now), now, 300, cap)
    return plan, advance(cursor, plan, window, wraps, now), len(window) + len(new)


def test_a_window_holds_enough_files_to_sweep_the_history_within_the_interval() -> None:
    assert sweep_size(5031, 30, 300) == 504  # twenty years of NYSE days in ten ticks
    assert sweep_size(7305, 30, 300) == 731
    assert sweep_size(300, 30, 300) == MIN_SWEEP  # a short history is read whole on every tick
    assert sweep_size(5031, 30, 10) == 5031  # an interval shorter than a tick: everything every tick


def test_a_window_stops_at_its_size_or_at_the_cursor_and_says_when_it_reaches_the_end() -> None:
    files = source(DAYS[:10])
    assert sweep_window(iter(files), 4, None) == (files[:4], False)
    assert sweep_window(iter(files), 20, None) == (files, True)
    assert sweep_window(iter(files), 20, files[5].key) == (files[:6], True)  # later files are the tick's new ones
    assert sweep_window(iter([]), 4, None) == ([], True)


def test_the_first_sweep_lists_a_window_a_tick_and_sets_the_cursor_only_once_it_read_everything() -> None:
    vendor, lake, cursor = source(DAYS), [], PlanCursor()
    seen, requested = [], []
    for n in range(4):
        plan, cursor, read = tick(vendor, lake, cursor, 100, now=1000.0 + n)
        seen.append(read)
        requested += [key for run in plan.runs for key in run.keys]
        assert (cursor.after is None) == (n < 3)
    assert seen == [100, 100, 100, len(DAYS) - 300] and requested == KEYS[:-1]
    assert cursor == PlanCursor(after=vendor[-1].key, full_at=1000.0, sweep=None, since=0.0)


def test_a_deleted_day_is_found_within_one_sweep_and_a_new_file_on_the_next_tick() -> None:
    vendor, lake = source(DAYS), curated(DAYS)
    cursor = PlanCursor(after=vendor[-1].key, full_at=0.0)  # the history curated, the first sweep over
    deleted, newest = DAYS[250], NEWEST
    lake = [info for info in lake if info.key != DAY_AGGS.curated.key(deleted)]
    found_at = None
    for n in range(5):
        if n == 1:  # the vendor publishes a new day while the sweep is at its start
            vendor = [*vendor, *source([newest])]
        plan, cursor, read = tick(vendor, lake, cursor, 100, now=2000.0 + 30 * n)
        keys = [key for run in plan.runs for key in run.keys]
        assert read <= 100 + 1 and (n != 1 or keys == [partition_key(newest)])  # new files: not a sweep's wait
        if partition_key(deleted) in keys:
            found_at = n
        lake += curated([day for day in (newest, deleted) if partition_key(day) in keys])
    assert found_at == 2  # the third window holds day 250
    # the fifth tick began the next sweep, which looks up objects written since the last one began
    assert cursor == PlanCursor(after=DAY_AGGS.source.key(newest), full_at=2120.0, sweep=vendor[99].key, since=2000.0)


def test_a_tick_capped_inside_its_window_resumes_the_sweep_after_what_it_requested() -> None:
    vendor, requested, cursor = source(DAYS[:50]), [], PlanCursor()
    for n in range(5):
        plan, cursor, _ = tick(vendor, [], cursor, 100, now=1.0 + n, cap=10)
        requested += [key for run in plan.runs for key in run.keys]
    assert requested == KEYS[:50]  # ten a tick, each once (the runs are in flight by the next tick)
    assert cursor.after == vendor[-1].key and cursor.sweep is None  # the first sweep read everything


def test_objects_written_since_the_sweep_before_are_looked_up_for_alterations() -> None:
    assert sweep_since(PlanCursor()) == 0.0  # a sensor's first sweep looks at every object once
    starting = PlanCursor(after="k", full_at=500.0, sweep=None, since=100.0)
    assert sweep_since(starting) == 500.0  # a new sweep: since the one that just ended began
    midway = PlanCursor(after="k", full_at=900.0, sweep="j", since=500.0)
    assert sweep_since(midway) == 500.0
