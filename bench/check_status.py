"""Benchmark: what a partitions definition costs in Dagster's storage and in a check's Partitions view.

For twenty years of ``day_aggs`` (from 2006-01-03), compares the shipped weekday calendar (Dagster's cron
``0 0 * * 1-5``, holidays recorded as closed partitions) with the calendar it replaced (a daily calendar
excluding weekends and every NYSE holiday to 2040) and with a plain daily calendar (every day a partition, as
weekends would be if they too were recorded as closed), in the same run:

- the bytes of the partitions subset one planned check event of a 31-day range run carries (Dagster stores
  one per check per run, and one row per partition in ``asset_check_executions`` holding it);
- the time to rebuild one check's partition status over ``--partitions`` evaluated partitions, as the check's
  Partitions view and every automation evaluation over a partitioned check do in Dagster 1.13 (the OSS instance
  keeps no cached state): one SQLite instance per calendar, each partition holding one runless check result.

Dagster's own (private) status builder is called, as the webserver calls it. Run on demand:

    .venv/bin/python bench/check_status.py [--partitions 5000] [--runs 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from datetime import date, datetime

import dagster as dg
from dagster._core.storage.asset_check_state import AssetCheckState, bulk_update_asset_check_state

from lake_assets.lake.calendars import closed_weekdays
from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.lake.layout import PARTITION_FORMAT
from lake_assets.orchestration.partitions import daily_partitions

SPEC = dataclasses.replace(DAY_AGGS, start_date=date(2006, 1, 3))
CHECK = dg.AssetCheckKey(dg.AssetKey(["day_aggs", "curated"]), "structure")


def replaced_calendar() -> dg.PartitionsDefinition:
    """The calendar before this release: daily, weekends and the NYSE holidays to 2040 excluded."""
    holidays = [datetime(d.year, d.month, d.day) for d in closed_weekdays("nyse", SPEC.start_date, date(2040, 12, 31))]
    return dg.DailyPartitionsDefinition(start_date=SPEC.start_date.strftime(PARTITION_FORMAT), fmt=PARTITION_FORMAT,
                                        timezone=SPEC.timezone, end_offset=SPEC.end_offset,
                                        exclusions=["0 0 * * 6", "0 0 * * 0", *holidays])


def planned_subset_bytes(partitions: dg.PartitionsDefinition) -> int:
    """Bytes of the serialized partitions subset of a 31-partition range, as a planned event stores it."""
    keys = partitions.get_partition_keys()[1000:1031]
    return len(dg.serialize_value(partitions.subset_with_partition_keys(keys).to_serializable_subset()))


def rebuild_seconds(partitions: dg.PartitionsDefinition, count: int, runs: int) -> tuple[float, int]:
    """Median seconds to rebuild ``CHECK``'s status from an instance holding ``count`` partitions' results, and
    how many partitions the rebuild found passed."""
    keys = partitions.get_partition_keys()[:count]
    with tempfile.TemporaryDirectory() as home:
        instance = dg.DagsterInstance.local_temp(home, overrides={"telemetry": {"enabled": False}})
        for key in keys:
            instance.report_runless_asset_event(dg.AssetCheckEvaluation(
                asset_key=CHECK.asset_key, check_name=CHECK.name, passed=True, partition=key))
        times, passed = [], 0
        for _ in range(runs):
            began = time.perf_counter()
            state = bulk_update_asset_check_state(instance, [(CHECK, partitions)], {CHECK: AssetCheckState.empty()})
            times.append(time.perf_counter() - began)
            subsets = state[CHECK].subsets
            passed = sum(1 for status, subset in subsets.items() if status.value == "SUCCEEDED"
                         for _ in subset.subset_value.get_partition_keys())
        return statistics.median(times), passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"| calendar | planned subset, bytes | status rebuild over {args.partitions} partitions, s (median of "
          f"{args.runs}) | partitions found passed |")
    print("| --- | ---: | ---: | ---: |")
    plain = dg.DailyPartitionsDefinition(start_date=SPEC.start_date.strftime(PARTITION_FORMAT), fmt=PARTITION_FORMAT,
                                         timezone=SPEC.timezone, end_offset=SPEC.end_offset)
    for name, partitions in (("weekday cron (shipped)", daily_partitions(SPEC)),
                             ("daily with exclusions (replaced)", replaced_calendar()),
                             ("daily, every day a partition (not shipped)", plain)):
        seconds, passed = rebuild_seconds(partitions, args.partitions, args.runs)
        print(f"| {name} | {planned_subset_bytes(partitions):,} | {seconds:.2f} | {passed} |", flush=True)


if __name__ == "__main__":
    main()
