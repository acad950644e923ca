"""Twenty years of daily history through ``lake run``'s path: the first backfill, a no-op run, and the ticks after.

    .venv/bin/python bench/history.py [--start 2006-01-03] [--until 2025-12-31] [--tickers 3]

Publishes one small vendor file per NYSE trading day (``--tickers`` rows a day, as a history of index
closes is) to a fresh embedded SeaweedFS, for a ``day_aggs`` dataset starting at ``--start``; then, in
this process and against a SQLite instance on disk, as ``lake run`` does: ticks the missing-partition
sensor and the rollup sensor until they request nothing, running every request in process (the first
backfill); does it again (a no-op ``lake run``: nothing to do); and times the missing-partition sensor's ticks
through two sweeps of the history (the first from a fresh cursor, which looks every curated object up in Dagster
once; a tick's CPU without the garbage collector's, which is reported apart) and one full-pass and one incremental tick of the rollup sensor, over the instance the backfill left, one
after the other in this process as the code server ticks them.
Reports the times, the CPU seconds of the ticks and the instance's size per 1,000 partitions.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import dagster as dg

from lake_assets.cli.sample import day_aggs_frame, gzip_csv
from lake_assets.lake.calendars import publishing_days
from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.lake.planning import PlanCursor
from lake_assets.orchestration.factory import build_dataset_defs
from lake_assets_tests.in_process import run_sensor_backfill

sys.path.insert(0, str(Path(__file__).parent))
from backfill import NO_TELEMETRY  # noqa: E402  (bench/ is not a package)
from instance_growth import files_size, published  # noqa: E402

#: CPU seconds Python's garbage collector has spent in this process (its full collections walk the whole heap,
#: Dagster's definitions included, whichever tick's allocations set them off).
COLLECTING = [0.0]


def _collector(phase: str, _: dict[str, int], began: list[float] = [0.0]) -> None:  # noqa: B006 (its own state)
    if phase == "start":
        began[0] = time.process_time()
    else:
        COLLECTING[0] += time.process_time() - began[0]


gc.callbacks.append(_collector)


def tick_cpu(defs: dg.Definitions, instance: dg.DagsterInstance, name: str,
             cursor: str | None) -> tuple[float, str | None]:
    """CPU seconds of one tick of sensor ``name`` from ``cursor``, garbage collection left out, and the cursor it
    leaves."""
    sensor = defs.resolve_sensor_def(name)
    began, collecting = time.process_time(), COLLECTING[0]
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=defs.resources or {},
                                 definitions=defs, sensor_name=name) as context:
        result = sensor(context)
    return time.process_time() - began - (COLLECTING[0] - collecting), result.cursor


def sweep_cpu(defs: dg.Definitions, instance: dg.DagsterInstance, name: str,
              cursor: str | None) -> tuple[list[float], str | None]:
    """CPU seconds of each tick of sensor ``name`` from ``cursor`` until its sweep has read the whole history once,
    and the cursor it leaves."""
    ticks = []
    while True:
        cpu, cursor = tick_cpu(defs, instance, name, cursor)
        ticks.append(cpu)
        if PlanCursor.from_json(cursor).sweep is None:
            return ticks, cursor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=date.fromisoformat, default=date(2006, 1, 3))
    parser.add_argument("--until", type=date.fromisoformat, default=date(2025, 12, 31))
    parser.add_argument("--tickers", type=int, default=3)
    args = parser.parse_args()
    spec = dataclasses.replace(DAY_AGGS, start_date=args.start)
    days = publishing_days(spec.calendar, args.start, args.until)
    files = ((spec.source.key(day), gzip_csv(day_aggs_frame(day, args.tickers))) for day in days)
    with tempfile.TemporaryDirectory() as work, published(Path(work), files) as resources:
        defs = dg.Definitions.merge(build_dataset_defs(spec), dg.Definitions(resources=resources))
        home = Path(work) / "home"
        home.mkdir()
        instance = dg.DagsterInstance.local_temp(str(home), overrides=NO_TELEMETRY)
        began = time.perf_counter()
        first = run_sensor_backfill(defs, instance, spec, lambda *_: None)
        first_seconds = time.perf_counter() - began
        size = files_size(home)
        began = time.perf_counter()
        again = run_sensor_backfill(defs, instance, spec, lambda *_: None)
        noop_seconds = time.perf_counter() - began
        collecting = COLLECTING[0]
        first_sweep, cursor = sweep_cpu(defs, instance, f"{spec.name}_missing_partitions", None)
        next_sweep, _ = sweep_cpu(defs, instance, f"{spec.name}_missing_partitions", cursor)
        collected = COLLECTING[0] - collecting
        rollups_full, rollup_cursor = tick_cpu(defs, instance, f"{spec.name}_rollups", None)
        rollups, _ = tick_cpu(defs, instance, f"{spec.name}_rollups", rollup_cursor)
        print(f"{len(days)} trading days {days[0]}..{days[-1]}, {args.tickers} rows a day")
        print("| figure | result |\n| --- | ---: |")
        print(f"| first backfill, in process | {first_seconds:.0f} s: {first.runs} runs, {len(first.months)} "
              f"rollups, {len(first.failed_runs)} failed, {first.ticks} ticks |")
        print(f"| no-op `lake run` | {noop_seconds:.1f} s ({again.runs} runs, {again.ticks} ticks) |")
        print(f"| missing-partition ticks, first sweep (fresh cursor) / next sweep: ticks, max / median | "
              f"{len(first_sweep)}, {max(first_sweep):.2f} / {statistics.median(first_sweep):.2f} CPU s; "
              f"{len(next_sweep)}, {max(next_sweep):.2f} / {statistics.median(next_sweep):.2f} CPU s |")
        print(f"| garbage collection during those ticks, left out above | {collected:.2f} CPU s over "
              f"{len(first_sweep) + len(next_sweep)} ticks |")
        print(f"| rollup tick, full pass / incremental | {rollups_full:.2f} / {rollups:.2f} CPU s |")
        print(f"| instance (SQLite) after the first backfill | {size / 1e6:.0f} MB, "
              f"{size / len(days) * 1000 / 1e6:.0f} MB per 1,000 partitions |")

if __name__ == "__main__":
    main()
