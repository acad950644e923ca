"""Benchmark: how much the Dagster instance grows per 1,000 curated partitions of a dataset (3 checks a day, one per concern).

Publishes ``--days`` sample days of ``day_aggs`` from 2006-01-03 (a calendar of twenty years: its partitions
definition carries every NYSE holiday to 2040) on a fresh embedded SeaweedFS, curates them with the ingest
job in range runs of the dataset's chunk (31 days), in process, into a SQLite instance on disk, and reports
per 1,000 partitions: the growth of the instance's files, the bytes of the event log's rows by event type,
and the check executions by status (none should stay PLANNED); with ``--storage postgres``, a deployment's
instance instead (a throwaway Debian PostgreSQL on loopback): the growth of each table. Run on demand:

    .venv/bin/python bench/instance_growth.py [--days 124] [--storage sqlite|postgres]
"""

from __future__ import annotations

import argparse
import dataclasses
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg

from lake_assets.cli.sample import vendor_file
from lake_assets.lake.calendars import publishing_days
from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.lake.layout import partition_key
from lake_assets.local_s3 import EmbeddedS3, free_ports
from lake_assets.local_s3.server import LOCAL_REGION
from lake_assets.orchestration.factory import build_dataset_defs, ingest_job_name
from lake_assets.orchestration.resources import S3TransferResource
from lake_assets_tests.deploy.postgres import ThrowawayPostgres
from lake_assets_tests.in_process import QUIET

sys.path.insert(0, str(Path(__file__).parent))
from backfill import temporary_instance  # noqa: E402  (bench/ is not a package)

SPEC = dataclasses.replace(DAY_AGGS, start_date=date(2006, 1, 3))


def lake_resources(server: EmbeddedS3) -> dict[str, S3TransferResource]:
    """The vendor and lake resources on ``server``'s buckets ``vendor`` and ``lake`` (created), as its admin."""
    server.ensure_buckets("vendor", "lake")
    keys = server.credentials()
    return {name: S3TransferResource(bucket=bucket, endpoint_url=server.endpoint_url, region_name=LOCAL_REGION,
                                     aws_access_key_id=keys.access_key_id, aws_secret_access_key=keys.secret_access_key,
                                     addressing_style="path")
            for name, bucket in (("vendor_s3", "vendor"), ("lake_s3", "lake"))}


@contextmanager
def published(work: Path, files: Iterable[tuple[str, bytes]]) -> Iterator[dict[str, S3TransferResource]]:
    """A fresh embedded SeaweedFS under ``work`` whose bucket ``vendor`` holds ``files`` (key, bytes) and whose
    bucket ``lake`` is empty; yield the vendor and lake resources on it, as its admin."""
    server = EmbeddedS3(work / "s3", free_ports())
    server.start()
    try:
        resources = lake_resources(server)
        with resources["vendor_s3"].open() as vendor:
            for key, data in files:
                vendor.put_bytes("vendor", key, data, overwrite=True)
        yield resources
    finally:
        server.stop()


def files_size(root: Path) -> int:
    """Bytes of every file under ``root``."""
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def row_bytes(root: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Bytes of the serialized events in every event log table, by event type (materializations and check results
    also by asset), and check executions by status."""
    events: dict[str, int] = {}
    checks: dict[str, int] = {}
    for db in root.rglob("*.db"):
        with sqlite3.connect(db) as connection:
            tables = {name for (name,) in connection.execute("select name from sqlite_master where type='table'")}
            if "event_logs" in tables:
                for kind, asset, size in connection.execute(
                        "select dagster_event_type, case when dagster_event_type in ('ASSET_MATERIALIZATION', "
                        "'ASSET_CHECK_EVALUATION') then asset_key end, sum(length(event)) from event_logs "
                        "group by 1, 2"):
                    name = f"{kind} {asset}" if asset else kind or "log"
                    events[name] = events.get(name, 0) + size
            if "asset_check_executions" in tables:
                for status, count, size in connection.execute("select execution_status, count(*), "
                                                              "sum(length(evaluation_event)) from "
                                                              "asset_check_executions group by 1"):
                    checks[status] = checks.get(status, 0) + count
                    events[f"check rows {status}"] = size
    return events, checks


def postgres_bytes(postgres: ThrowawayPostgres, name: str, vacuum: bool = False) -> dict[str, int]:
    """Bytes of each table of database ``name`` (rows, indexes and TOAST); with ``vacuum``, after ``VACUUM FULL``
    (without the dead row versions an update leaves until autovacuum reclaims them for reuse)."""
    connection = postgres.connect(name)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            if vacuum:
                cursor.execute("vacuum full")
            cursor.execute("select relname, pg_total_relation_size(relid) from pg_catalog.pg_statio_user_tables")
            return dict(cursor.fetchall())
    finally:
        connection.close()


def curate(days: list[date], resources: dict[str, S3TransferResource], instance: dg.DagsterInstance) -> float:
    """Curate ``days`` with the ingest job in range runs of the dataset's chunk, in process; return the seconds."""
    job = dg.Definitions.merge(build_dataset_defs(SPEC), dg.Definitions(resources=resources)) \
        .resolve_job_def(ingest_job_name(SPEC))
    began = time.perf_counter()
    for start in range(0, len(days), SPEC.chunk):
        chunk = days[start:start + SPEC.chunk]
        assert job.execute_in_process(instance=instance, run_config=QUIET, tags={
            "dagster/asset_partition_range_start": partition_key(chunk[0]),
            "dagster/asset_partition_range_end": partition_key(chunk[-1])}).success
    return time.perf_counter() - began


def report(kinds: dict[str, int], per_1000: float) -> None:
    """Print ``kinds`` (bytes by kind of row or table) per 1,000 partitions, largest first, and their total."""
    print("| rows | MB per 1,000 partitions |\n| --- | ---: |")
    for kind, size in sorted(kinds.items(), key=lambda item: -item[1]):
        print(f"| {kind} | {size * per_1000 / 1e6:.2f} |")
    print(f"| all | {sum(kinds.values()) * per_1000 / 1e6:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=124)
    parser.add_argument("--storage", choices=["sqlite", "postgres"], default="sqlite",
                        help="the instance's storage: SQLite files (dagster dev's), or a PostgreSQL database "
                             "(a deployment's), measured as its tables' total size")
    args = parser.parse_args()
    days = publishing_days(SPEC.calendar, SPEC.start_date, date(2026, 1, 1))[:args.days]
    per_1000 = 1000 / len(days)
    files = ((SPEC.source.key(day), vendor_file(DAY_AGGS, day)) for day in days)
    if args.storage == "postgres":
        with tempfile.TemporaryDirectory() as work, published(Path(work), files) as resources, \
                ThrowawayPostgres() as postgres, temporary_instance(postgres, "growth") as instance:
            before = postgres_bytes(postgres, "growth")
            seconds = curate(days, resources, instance)
            print(f"{len(days)} partitions in {seconds:.1f} s (PostgreSQL)")
            for vacuum in (False, True):
                after = postgres_bytes(postgres, "growth", vacuum)
                print("after VACUUM FULL" if vacuum else "as written")
                report({table: size - before.get(table, 0) for table, size in after.items()
                        if size > before.get(table, 0)}, per_1000)
        return
    with tempfile.TemporaryDirectory() as work, published(Path(work), files) as resources:
        home = Path(work) / "home"
        home.mkdir()
        with dg.instance_for_test(temp_dir=str(home)) as instance:
            before = files_size(home)
            seconds = curate(days, resources, instance)
            events, checks = row_bytes(home)
            print(f"{len(days)} partitions in {seconds:.1f} s; instance files grew "
                  f"{(files_size(home) - before) * per_1000 / 1e6:.1f} MB per 1,000 partitions")
            print(f"check executions by status: {checks}")
            report(events, per_1000)


if __name__ == "__main__":
    main()
