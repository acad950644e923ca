"""Backfill benchmark: one year of ``day_aggs`` as partition-range runs versus one run per partition.

    .venv/bin/python bench/backfill.py [--runs 5] [--per-partition-runs 1] [--storage sqlite|postgres]

Publishes 2024's vendor files (252 NYSE trading days, 100 tickers each) to a fresh embedded
SeaweedFS, ticks the missing-partition sensor once (it asks for every day, in ranges of up to 31
partitions), and executes its requests in process against a temporary Dagster instance (after one
warm-up backfill): either as
requested (one run per range) or cut into one run per partition, as a per-partition sensor would.
The lake is emptied between repetitions so each does the same work: raw copy, checks and curated
Parquet for every day. Wall time covers the runs; the sensor tick is timed apart. ``--storage postgres``
keeps each instance in a fresh database of a throwaway PostgreSQL on loopback (Debian's, with ``fsync``
on, as a deployment's), configured as ``deploy/dagster.yaml`` configures it, instead of SQLite files.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import date
from pathlib import Path

import dagster as dg

from lake_assets.cli.main_job import LAKE_BUCKET, VENDOR_BUCKET, activate
from lake_assets.cli.sample import publish_sample
from lake_assets.lake.datasets import DAY_AGGS, DatasetSpec
from lake_assets.local_s3 import EmbeddedS3, free_ports
from lake_assets.orchestration.factory import build_dataset_defs, ingest_job_name
from lake_assets.orchestration.resources import s3_resource_from_env
from lake_assets.s3 import S3Handler
from lake_assets_tests.deploy.postgres import ThrowawayPostgres
from lake_assets_tests.in_process import QUIET, request_partitions

YEAR_START, YEAR_END = date(2024, 1, 1), date(2024, 12, 31)
#: Temporary instances get no dagster.yaml; this keeps their telemetry off, as dagster_home's is.
NO_TELEMETRY = {"telemetry": {"enabled": False}}


@contextmanager
def temporary_instance(postgres: ThrowawayPostgres | None, name: str) -> Iterator[dg.DagsterInstance]:
    """A fresh instance: SQLite files in a temporary directory, or database ``name`` of ``postgres``."""
    overrides: dict[str, object] = dict(NO_TELEMETRY)
    if postgres is not None:
        postgres.create_database(name)
        overrides["storage"] = {"postgres": {"postgres_db": {
            "hostname": "127.0.0.1", "port": postgres.port, "username": postgres.username,
            "password": postgres.password, "db_name": name, "scheme": "postgresql+psycopg2"}}}
    with dg.DagsterInstance.local_temp(overrides=overrides) as instance:
        yield instance


def empty_lake(server: EmbeddedS3) -> None:
    """Delete every object in the lake bucket, so the next repetition starts from nothing."""
    with S3Handler(server.transfer_config(show_progress=False)) as s3:
        s3.delete_objects(LAKE_BUCKET, [info.key for info in s3.iter_objects(LAKE_BUCKET)])


def backfill(defs: dg.Definitions, instance: dg.DagsterInstance, per_partition: bool,
             spec: DatasetSpec = DAY_AGGS) -> tuple[float, float, int]:
    """Tick ``spec``'s sensor until it asks for nothing and execute what it asks; return tick seconds, run seconds
    and runs launched (the lake starts empty: every request is new)."""
    sensor = defs.resolve_sensor_def(f"{spec.name}_missing_partitions")
    job = defs.resolve_job_def(ingest_job_name(spec))
    ticking = running = 0.0
    runs, cursor = 0, None
    while True:  # a tick asks for at most MAX_PARTITIONS_PER_TICK partitions: a long history takes several
        began = time.perf_counter()
        with dg.build_sensor_context(instance=instance, resources=defs.resources or {}, definitions=defs,
                                     sensor_name=sensor.name, cursor=cursor) as context:
            result = sensor(context)
        requests, cursor = list(result.run_requests or []), result.cursor
        ticked = time.perf_counter()
        ticking += ticked - began
        if not requests:
            return ticking, running, runs
        for request in requests:
            keys = request_partitions(request, job)
            batches = [dict(partition_key=key, tags={}) for key in keys] if per_partition else [
                dict(partition_key=request.partition_key, tags=dict(request.tags))]
            for batch in batches:
                outcome = job.execute_in_process(instance=instance, raise_on_error=True, run_config=QUIET, **batch)
                runs += 1
                assert outcome.success
        running += time.perf_counter() - ticked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="repetitions of the range-run backfill")
    parser.add_argument("--per-partition-runs", type=int, default=1, help="repetitions of the per-partition one")
    parser.add_argument("--until", type=date.fromisoformat, default=YEAR_END, help="last vendor day (a smoke run)")
    parser.add_argument("--storage", choices=["sqlite", "postgres"], default="sqlite", help="the instances' storage")
    args = parser.parse_args()
    spec = DAY_AGGS
    database: AbstractContextManager[ThrowawayPostgres | None] = (
        ThrowawayPostgres(fsync=True) if args.storage == "postgres" else nullcontext())
    names = (f"bench_{n}" for n in itertools.count())
    with tempfile.TemporaryDirectory() as work, database as postgres:
        server = EmbeddedS3(Path(work) / "s3", free_ports())
        server.start()
        try:
            activate(server, Path(work) / "dagster_home")
            with S3Handler(server.transfer_config(show_progress=False)) as vendor:
                published = publish_sample(vendor, VENDOR_BUCKET, [spec], YEAR_START, args.until)
            defs = dg.Definitions.merge(build_dataset_defs(spec), dg.Definitions(resources={
                "vendor_s3": s3_resource_from_env("VENDOR_S3"), "lake_s3": s3_resource_from_env("LAKE_S3")}))
            print(f"{published} vendor files; storage {args.storage}; DAGSTER_HOME={os.environ['DAGSTER_HOME']}")
            print("| mode | runs launched | tick s | runs median s | per partition s | repetitions |")
            print("| --- | ---: | ---: | ---: | ---: | ---: |")
            empty_lake(server)
            with temporary_instance(postgres, next(names)) as instance:
                backfill(defs, instance, per_partition=False)  # warm-up
            for per_partition, repetitions in ((False, args.runs), (True, args.per_partition_runs)):
                if not repetitions:
                    continue
                results = []
                for _ in range(repetitions):
                    empty_lake(server)
                    with temporary_instance(postgres, next(names)) as instance:
                        results.append(backfill(defs, instance, per_partition))
                run_s = statistics.median(r[1] for r in results)
                print(f"| {'one run per partition' if per_partition else 'partition-range runs'} | {results[0][2]} | "
                      f"{statistics.median(r[0] for r in results):.2f} | {run_s:.1f} | {run_s / published:.3f} | "
                      f"{repetitions} |", flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
