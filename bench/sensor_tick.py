"""Benchmark: one missing-partition sensor tick over ten years of daily partitions, for three datasets.

Seeds ten years of vendor files and curated partitions (tiny placeholder objects: the sensor reads
listings, never bodies) on a fresh embedded SeaweedFS, leaves a few gaps, then ticks each dataset's sensor
through two whole sweeps of its history (:mod:`lake_assets.lake.sweep`): the first from a fresh cursor (every
curated object looked up in Dagster once), then the next. Reports each sweep's ticks, their CPU seconds and the
LIST requests each made (counted by the server). The third dataset is the nodal-price spec for a second ISO, so
three sensors run. Run on demand:

    .venv/bin/python bench/sensor_tick.py [--years 10] [--profile] [--history]

``--profile`` also prints where the second sweep of the first dataset spends its time (cProfile).
``--history`` gives the ticks a Dagster instance (SQLite, on disk) that holds a materialization of every
curated partition of the history and a failed run, as a lake with years of history has, instead of an
empty ephemeral one; the table then also gives each tick's CPU seconds.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import pstats
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import dagster as dg

from lake_assets.lake.calendars import publishing_days
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.datasets.catalog import NODAL_PRICES
from lake_assets.lake.layout import KeyTemplate
from lake_assets.lake.planning import PlanCursor
from lake_assets.local_s3 import EmbeddedS3, free_ports
from lake_assets.orchestration.component import declared_datasets
from lake_assets.orchestration.factory import build_dataset_defs
from lake_assets.orchestration.resources import S3TransferResource
from lake_assets.s3 import S3Handler, S3ObjectRef

sys.path.insert(0, str(Path(__file__).resolve().parent))
from instance_growth import lake_resources  # noqa: E402  (bench/ is not a package)
from transfer import request_counts  # noqa: E402

#: A third dataset, for the benchmark only: the same vendor layout for another ISO.
ERCOT_PRICES = dataclasses.replace(NODAL_PRICES, name="ercot_nodal_prices",
                                   source=KeyTemplate("energy/iso=ercot/da_lmp/{yyyy}/da_lmp_{yyyymmdd}.csv.gz"))


def seed(server: EmbeddedS3, spec: DatasetSpec, days: list[date], work: Path) -> None:
    """Upload one placeholder per day to the vendor and (except every 97th day) to the curated zone."""
    placeholder = work / "x"
    placeholder.write_bytes(b"x")
    with S3Handler(server.transfer_config(show_progress=False, max_concurrency=32)) as s3:
        s3.upload_objects("vendor", [S3ObjectRef(spec.source.key(d), placeholder) for d in days], overwrite=True)
        s3.upload_objects("lake", [S3ObjectRef(spec.curated.key(d), placeholder)
                                   for i, d in enumerate(days) if i % 97], overwrite=True)


def with_history(instance: dg.DagsterInstance, spec: DatasetSpec, job: dg.JobDefinition) -> None:
    """Record a materialization of every curated partition of ``job`` and one failed range run of it, as years
    of backfills leave them."""
    asset, keys = dg.AssetKey([spec.name, "curated"]), job.partitions_def.get_partition_keys()
    for key in keys:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=key))
    run = instance.create_run_for_job(job, tags={
        "dagster/asset_partition_range_start": keys[-3], "dagster/asset_partition_range_end": keys[-1]})
    instance.report_run_failed(run)


def tick(defs: dg.Definitions, spec: DatasetSpec, resources: dict[str, S3TransferResource],
         cursor: str | None, metrics_port: int, instance: dg.DagsterInstance) -> tuple[float, dg.SensorResult, int]:
    """Run one tick; return its CPU seconds, its result and the LIST requests the server saw."""
    sensor = defs.resolve_sensor_def(f"{spec.name}_missing_partitions")
    lists_before = request_counts(metrics_port).get("LIST", 0)
    began = time.process_time()
    with dg.build_sensor_context(cursor=cursor, resources=resources, instance=instance,
                                 sensor_name=f"{spec.name}_missing_partitions") as context:
        result = sensor(context)
    elapsed = time.process_time() - began
    return elapsed, result, int(request_counts(metrics_port).get("LIST", 0) - lists_before)


def sweep(defs: dg.Definitions, spec: DatasetSpec, resources: dict[str, S3TransferResource], cursor: str | None,
          metrics_port: int, instance: dg.DagsterInstance) -> tuple[list[tuple[float, int, int]], str | None]:
    """Tick from ``cursor`` until the sweep has read the whole history once; return each tick's CPU seconds, LIST
    requests and partitions requested, and the cursor left."""
    ticks = []
    while True:
        cpu, result, lists = tick(defs, spec, resources, cursor, metrics_port, instance)
        cursor = result.cursor
        ticks.append((cpu, lists, len(result.run_requests or [])))
        if PlanCursor.from_json(cursor).sweep is None:
            return ticks, cursor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--profile", action="store_true", help="profile the second sweep of the first dataset")
    parser.add_argument("--history", action="store_true", help="an instance holding every curated partition")
    args = parser.parse_args()
    end = date(2025, 12, 31)
    start = date(end.year - args.years + 1, 1, 1)
    with tempfile.TemporaryDirectory() as work:
        metrics_port = free_ports().s3
        server = EmbeddedS3(Path(work) / "s3", free_ports(), metrics_port=metrics_port)
        server.start()
        try:
            resource = lake_resources(server)
            print("| dataset | days | sweep | ticks | tick CPU s, max / median | LIST requests a tick, max | "
                  "runs requested (every 97th day missing) |")
            print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
            for base in (*declared_datasets(), ERCOT_PRICES):
                spec = dataclasses.replace(base, start_date=start)
                days = publishing_days(spec.calendar, start, end)
                seed(server, spec, days, Path(work))
                defs = dg.Definitions.merge(build_dataset_defs(spec), dg.Definitions(resources=resource))
                instance = dg.DagsterInstance.ephemeral()  # no run history: the tick reads its (empty) run records
                if args.history:
                    instance = dg.DagsterInstance.local_temp(tempfile.mkdtemp(dir=work))
                    with_history(instance, spec, defs.resolve_job_def(f"{spec.name}_ingest"))
                first, cursor = sweep(defs, spec, resource, None, metrics_port, instance)
                profiler = cProfile.Profile() if args.profile and spec.name == declared_datasets()[0].name else None
                if profiler:
                    profiler.enable()
                second, _ = sweep(defs, spec, resource, cursor, metrics_port, instance)
                if profiler:
                    profiler.disable()
                    pstats.Stats(profiler).sort_stats("cumulative").print_stats(r"sensors|sweep|plan_tick|paginate")
                for name, ticks in (("first (fresh cursor)", first), ("next", second)):
                    cpu = [seconds for seconds, _, _ in ticks]
                    print(f"| {spec.name} | {len(days)} | {name} | {len(ticks)} | {max(cpu):.3f} / "
                          f"{statistics.median(cpu):.3f} | {max(lists for _, lists, _ in ticks)} | "
                          f"{sum(runs for _, _, runs in ticks)} runs |")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
