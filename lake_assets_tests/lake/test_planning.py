"""The sensor's planning as a pure function: ranges, chunks, the cap, the cursor, off-calendar and future files."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone

from lake_assets.lake.calendars import publishing_days
from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.lake.layout import partition_key
from lake_assets.lake.planning import (
    CLOSED,
    PlanCursor,
    altered,
    plan_rechecks,
    plan_reconciliations,
    plan_rollups,
    plan_tick,
    written_since,
)
from lake_assets.s3 import ObjectInfo

T0 = datetime(2024, 6, 1, tzinfo=timezone.utc)
DAYS = publishing_days("nyse", date(2024, 1, 2), date(2024, 3, 28))
KEYS = [partition_key(day) for day in DAYS]
#: The partitions of a weekday calendar over the same span: the publishing days and the holidays among them.
WEEKDAYS = [partition_key(date(2024, 1, 2) + timedelta(days=n)) for n in range(87)
            if (date(2024, 1, 2) + timedelta(days=n)).weekday() < 5]
MLK, PRESIDENTS = "2024-01-15", "2024-02-19"


def source(days: list[date], at: datetime = T0, etag: str = "e") -> list[ObjectInfo]:
    return [ObjectInfo(DAY_AGGS.source.key(d), 10, f"{etag}{d:%m%d}", at) for d in days]


def curated(days: list[date], at: datetime = T0 + timedelta(hours=1)) -> list[ObjectInfo]:
    return [ObjectInfo(DAY_AGGS.curated.key(d), 10, "c", at) for d in days]


def plan(src: list[ObjectInfo], lake: list[ObjectInfo], cursor: PlanCursor = PlanCursor(), cap: int = 1000,
         spec=DAY_AGGS, now: float = 1_000_000.0, redo: dict[str, str] | None = None):
    return plan_tick(spec, KEYS, src, lake, cursor, now, full_interval=3600, cap=cap, redo=redo)


def spans(result) -> list[tuple[str, str]]:
    return [(run.start, run.end) for run in result.runs]


def test_gaps_become_contiguous_ranges_across_weekends_and_holidays() -> None:
    present = [d for d in DAYS if d not in DAYS[3:8] and d != DAYS[20]]
    result = plan(source(DAYS), curated(present))
    assert spans(result) == [(KEYS[3], KEYS[7]), (KEYS[20], KEYS[20])]
    assert result.full_pass and result.cursor.after == DAY_AGGS.source.key(DAYS[-1])


def test_ranges_are_cut_at_the_chunk_size() -> None:
    result = plan(source(DAYS), [], spec=dataclasses.replace(DAY_AGGS, chunk=25))
    assert [len(run.keys) for run in result.runs] == [25, 25, len(DAYS) - 50]


def test_the_cap_stops_the_tick_and_the_cursor_resumes_after_the_last_request() -> None:
    first = plan(source(DAYS), [], cap=10)
    assert first.capped and first.partitions == 10
    assert first.cursor.after == DAY_AGGS.source.key(DAYS[9])
    rest = [i for i in source(DAYS) if i.key > first.cursor.after]
    second = plan(rest, [], cursor=first.cursor, cap=1000)
    assert not second.full_pass and second.partitions == len(DAYS) - 10
    assert second.runs[0].start == KEYS[10] and second.runs[-1].end == KEYS[-1]


def test_a_source_newer_than_its_curated_partition_is_requested_again() -> None:
    src = source(DAYS[:5])
    src[2] = dataclasses.replace(src[2], etag="corrected", last_modified=T0 + timedelta(days=2))
    result = plan(src, curated(DAYS[:5]))
    assert spans(result) == [(KEYS[2], KEYS[2])] and result.runs[0].etags == ("corrected",)


def test_run_keys_are_stable_and_change_with_the_source_etag() -> None:
    one = plan(source(DAYS[:3]), [])
    two = plan(source(DAYS[:3]), [])
    three = plan(source(DAYS[:3], etag="v2-"), [])
    assert one.runs[0].run_key == two.runs[0].run_key != three.runs[0].run_key
    assert one.runs[0].run_key.startswith(f"day_aggs:{KEYS[0]}..{KEYS[2]}:")


def test_off_calendar_and_foreign_files_are_reported_or_ignored() -> None:
    saturday = date(2024, 1, 6)
    src = sorted(source([DAYS[0], saturday, DAYS[5]]) + [ObjectInfo("us_stocks_sip/day_aggs_v1/README", 1, "r", T0)],
                 key=lambda info: info.key)
    result = plan(src, [])
    assert result.off_calendar == [DAY_AGGS.source.key(saturday)]
    assert spans(result) == [(KEYS[0], KEYS[0]), (KEYS[5], KEYS[5])]


def test_files_dated_after_the_last_partition_wait_for_it() -> None:
    future = date(2024, 4, 1)
    result = plan(source([DAYS[-1], future]), [])
    assert spans(result) == [(KEYS[-1], KEYS[-1])]
    assert result.cursor.after == DAY_AGGS.source.key(DAYS[-1])


def test_full_pass_when_due_and_unreadable_cursors_start_afresh() -> None:
    recent = PlanCursor(after=DAY_AGGS.source.key(DAYS[3]), full_at=999_000.0)
    assert not plan([], [], cursor=recent).full_pass
    stale = dataclasses.replace(recent, full_at=0.0)
    assert plan([], [], cursor=stale).full_pass
    assert PlanCursor.from_json("not json") == PlanCursor() == PlanCursor.from_json(None)
    assert PlanCursor.from_json(recent.to_json()) == recent


def test_months_needing_a_rollup_come_from_the_lake_as_ranges_of_neighbouring_months() -> None:
    jan, feb, mar = DAYS[:5], [d for d in DAYS if d.month == 2][:3], [d for d in DAYS if d.month == 3][:2]
    lake = curated(jan + feb + mar)
    rollups = [ObjectInfo(f"{DAY_AGGS.rollup_prefix}/year=2024/month=01/summary.parquet", 1, "r", T0 + timedelta(hours=2)),
               ObjectInfo(f"{DAY_AGGS.rollup_prefix}/year=2024/month=02/summary.parquet", 1, "r", T0),
               ObjectInfo(f"{DAY_AGGS.rollup_prefix}/notes.txt", 1, "r", T0)]
    months = ["2024-01-01", "2024-02-01", "2024-03-01"]
    # January is summarised after its days; February's summary predates a curated day; March has none
    runs = plan_rollups(DAY_AGGS, lake, rollups, months)
    assert [run.keys for run in runs] == [("2024-02-01", "2024-03-01")]
    # a repeated tick makes the same requests; a month whose days change is a new one
    assert [run.run_key for run in plan_rollups(DAY_AGGS, lake, rollups, months)] == [runs[0].run_key]
    changed = [*lake[:-1], dataclasses.replace(lake[-1], etag="recurated")]  # a March day
    assert plan_rollups(DAY_AGGS, changed, rollups, months)[0].run_key != runs[0].run_key
    # a month that is not a partition is left out; months apart are separate runs, each at most a chunk long
    assert [run.keys for run in plan_rollups(DAY_AGGS, lake, rollups, months[:2])] == [("2024-02-01",)]
    stale = [dataclasses.replace(info, last_modified=T0 - timedelta(days=1)) for info in rollups]
    assert [run.keys for run in plan_rollups(DAY_AGGS, curated(jan + mar), stale, months)] == [
        ("2024-01-01",), ("2024-03-01",)]
    short = dataclasses.replace(DAY_AGGS, chunk=2)
    assert [run.keys for run in plan_rollups(short, lake, [], months)] == [tuple(months[:2]), tuple(months[2:])]


def test_a_failed_partition_is_requested_again_only_once_its_vendor_file_changed() -> None:
    files = {info.key: info for info in source(DAYS[:4])}
    corrected = dataclasses.replace(files[DAY_AGGS.source.key(DAYS[2])], etag="corrected")
    files[corrected.key] = corrected
    mirrored = {KEYS[1]: files[DAY_AGGS.source.key(DAYS[1])].etag, KEYS[2]: "e" + f"{DAYS[2]:%m%d}"}
    runs = plan_rechecks(DAY_AGGS, KEYS, [KEYS[1], KEYS[2], KEYS[3], KEYS[20]],
                         lambda key: files.get(DAY_AGGS.source.key(date.fromisoformat(key))), mirrored.get)
    # day 1: same file as mirrored; day 2: corrected since; day 3: never mirrored (healing's); day 20: no file
    assert [(run.keys, run.etags) for run in runs] == [((KEYS[2],), ("corrected",))]


def test_closed_days_the_vendor_has_passed_are_requested_with_their_neighbours_as_one_range() -> None:
    result = plan_tick(dataclasses.replace(DAY_AGGS, chunk=31), WEEKDAYS, source(DAYS), [], PlanCursor(),
                       1_000_000.0, 3600, 1000, closed=[MLK, PRESIDENTS, "2024-03-29"])  # Good Friday: after the
    # vendor's last file
    assert [len(run.keys) for run in result.runs] == [31, 31, 1]  # 61 trading days and 2 holidays, by 31
    assert [key for run in result.runs for key in run.keys] == [key for key in WEEKDAYS if key <= KEYS[-1]]
    etags = dict(zip(result.runs[0].keys, result.runs[0].etags))
    assert etags[MLK] == CLOSED and etags[KEYS[0]] == f"e{DAYS[0]:%m%d}"


def test_a_closed_day_waits_for_the_vendors_next_file_and_goes_with_it() -> None:
    wednesday, friday = date(2024, 11, 27), date(2024, 11, 29)  # Thanksgiving between them
    keys = ["2024-11-27", "2024-11-28", "2024-11-29"]
    before = plan_tick(DAY_AGGS, keys, source([wednesday]), [], PlanCursor(), 1.0, 3600, 1000, closed=[keys[1]])
    assert [run.keys for run in before.runs] == [(keys[0],)]
    after = plan_tick(DAY_AGGS, keys, source([friday]), [], before.cursor, 2.0, 3600, 1000, closed=[keys[1]])
    assert [run.keys for run in after.runs] == [(keys[1], keys[2])]


def test_a_failed_day_is_reconciled_only_when_the_lake_holds_it_curated_from_the_vendors_current_file() -> None:
    infos = {key: info for key, info in zip(KEYS[:4], source(DAYS[:4]))}
    curated_from = {KEYS[0]: infos[KEYS[0]].etag, KEYS[1]: "an older file", KEYS[3]: infos[KEYS[3]].etag}
    found = plan_reconciliations([KEYS[3], KEYS[0], KEYS[1], KEYS[2]], infos.get, curated_from.get)
    assert found == [KEYS[0], KEYS[3]]  # not the day curated from an older file, nor the one never curated
    assert plan_reconciliations([KEYS[0]], lambda key: None, curated_from.get) == []  # the vendor withdrew it


def test_a_curated_object_written_after_its_record_is_altered_and_made_again_with_its_etag() -> None:
    """A run records a day after writing it; an object newer than its record by more than the slack was
    written outside the lake's runs. Only objects written since the last full pass are looked up."""
    written = curated(DAYS[:3], at=T0)
    changed = ObjectInfo(DAY_AGGS.curated.key(DAYS[1]), 10, "x", T0 + timedelta(minutes=5))
    recent = written_since(DAY_AGGS, [written[0], changed, written[2]], since=(T0 + timedelta(minutes=1)).timestamp())
    assert list(recent) == [KEYS[1]]  # the others were written before the last full pass began
    recorded = {key: (T0 + timedelta(seconds=2)).timestamp() for key in KEYS[:3]}  # each recorded after writing
    assert altered(recent, recorded) == {KEYS[1]: "altered:x"}
    assert altered(recent, {}) == {}  # a day Dagster never recorded is not judged here
    assert altered(recent, {KEYS[1]: (T0 + timedelta(minutes=4, seconds=30)).timestamp()}) == {}  # within the slack
    assert altered(written_since(DAY_AGGS, written, 0.0), recorded) == {}  # the lake's own writes

    result = plan(source(DAYS[:3]), written, redo={KEYS[1]: "altered:x"})  # nothing else to do: one run for it
    assert spans(result) == [(KEYS[1], KEYS[1])] and result.runs[0].etags == ("altered:x",)
    again = plan(source(DAYS[:3]), written, redo={KEYS[1]: "altered:y"})
    assert again.runs[0].run_key != result.runs[0].run_key  # altered again: requested again


def test_partitions_unfinished_runs_work_on_are_not_requested_again_nor_counted_against_the_cap() -> None:
    """Under the daemon a backfill's ranges wait in the queue: a full pass that requested them again, cut at other
    boundaries (other run keys), ran them twice; the pass now walks past them to what nobody works on."""
    queued = set(WEEKDAYS[:40])  # MLK among them
    result = plan_tick(DAY_AGGS, WEEKDAYS, source(DAYS), curated(DAYS[50:55]), PlanCursor(), 1_000_000.0,
                       full_interval=3600, cap=10, closed=[MLK], redo={KEYS[45]: "x", KEYS[2]: "y"}, busy=queued)
    first = [key for key in WEEKDAYS if key not in queued][:10]
    assert [key for run in result.runs for key in run.keys] == sorted({*first, KEYS[45]})  # KEYS[2] is queued
    assert result.capped and result.cursor.after == DAY_AGGS.source.key(date.fromisoformat(first[-1]))
    unqueued = plan_tick(DAY_AGGS, WEEKDAYS, source(DAYS), curated(DAYS[50:55]), PlanCursor(), 1_000_000.0,
                         full_interval=3600, cap=10, closed=[MLK])
    # the same tick with nothing queued starts at the start; the holiday it requests counts against the cap
    assert spans(unqueued) == [(WEEKDAYS[0], KEYS[8])] and unqueued.capped
    assert sum(len(run.keys) for run in unqueued.runs) == 9  # a tenth would bring MLK with it: 11


def test_a_tick_capped_at_two_chunks_is_two_full_ranges_with_the_holidays_among_them() -> None:
    """Each run under the daemon is a process start: a 500-day tick with its holidays was 250 + 250 + 9."""
    short = dataclasses.replace(DAY_AGGS, chunk=10)
    result = plan_tick(short, WEEKDAYS, source(DAYS), [], PlanCursor(), 1_000_000.0, full_interval=3600, cap=20,
                       closed=[MLK])
    assert [len(run.keys) for run in result.runs] == [10, 10] and MLK in result.runs[0].keys
