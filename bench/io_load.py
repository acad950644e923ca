"""The cost of loading 60 daily partitions into one frame: the lake's IO manager against polars' own S3 reads.

    .venv/bin/python bench/io_load.py --runs 5 [--days 60] [--tickers 100,10000]

Writes ``--days`` curated ``day_aggs`` partitions (zstd Parquet, as the curated asset writes them) for each
ticker count into a fresh embedded SeaweedFS, then loads the whole range into one collected
``pl.DataFrame`` with each method, each in a process of its own: the first load in the new process
("cold", as a Dagster run pays it), then ``--runs`` more ("warm", median). The methods:

- ``io-manager``: ``LakeParquetIOManager.load_input`` as a range input gets it (an existence check through the
  transfer layer, then one polars scan over the URIs with the newest partition's schema);
- ``transfer-batch``: what the IO manager did first: the same existence check, one transfer-layer download
  batch into a scratch directory, ``scan_parquet`` over the local files;
- ``polars-list``: ``pl.scan_parquet`` over the 60 ``s3://`` URIs, polars' own object_store client;
- ``polars-concat``: one ``pl.scan_parquet`` per URI, concatenated with ``how="diagonal_relaxed"`` (columns
  may differ between days);
- ``existence-check``: only the IO manager's existence check (``existing_keys``: LISTs of the month prefixes);
- ``polars-hive``: ``pl.scan_parquet`` over the dataset's glob with ``hive_partitioning=True`` (a LIST of
  the prefix, then the reads), filtered to the range.

Prints a Markdown table; ``bench/RESULTS.md`` keeps the figures with this command.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from lake_assets.cli.sample import day_aggs_frame
from lake_assets.lake.calendars import publishing_days
from lake_assets.lake.curation import to_parquet
from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.local_s3 import EmbeddedS3, free_ports
from lake_assets.orchestration.io_manager import LIST_FROM, LakeParquetIOManager
from lake_assets.orchestration.partitions import daily_partitions
from lake_assets.orchestration.resources import S3TransferResource
from lake_assets.s3 import S3Handler, S3ObjectRef

METHODS = ("io-manager", "transfer-batch", "polars-list", "polars-concat", "polars-hive", "existence-check")
START = date(2024, 1, 2)


def _bucket(tickers: int) -> str:
    return f"load-{tickers}"


def _resource() -> S3TransferResource:
    return S3TransferResource(bucket=os.environ["BENCH_BUCKET"], endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                              region_name="us-east-1", aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"], addressing_style="path")


def _storage_options() -> dict[str, str]:
    return {"aws_endpoint_url": os.environ["AWS_ENDPOINT_URL"], "aws_region": "us-east-1",
            "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"], "aws_allow_http": "true"}


def _loader(method: str, days: list[date]) -> Callable[[], pl.DataFrame]:
    """One load of ``days`` of the curated zone into a collected frame, set up outside the timing: a Dagster
    run builds its IO manager and input context whatever manager it uses."""
    bucket = os.environ["BENCH_BUCKET"]
    uris = [f"s3://{bucket}/{DAY_AGGS.curated.key(day)}" for day in days]
    if method == "io-manager":
        upstream = dg.build_output_context(asset_key=["day_aggs", "curated"], definition_metadata={
            "lake/prefix": DAY_AGGS.curated.prefix, "lake/filename": DAY_AGGS.curated.filename})
        context = dg.build_input_context(
            name="bars", upstream_output=upstream, asset_partitions_def=daily_partitions(DAY_AGGS),
            asset_partition_key_range=dg.PartitionKeyRange(days[0].isoformat(), days[-1].isoformat()),
            dagster_type=dg.PythonObjectDagsterType(pl.LazyFrame))
        manager = LakeParquetIOManager(lake_s3=_resource())
        return lambda: manager.load_input(context).collect()
    if method == "polars-list":
        return lambda: pl.scan_parquet(uris, storage_options=_storage_options()).collect()
    if method == "polars-concat":
        return lambda: pl.concat([pl.scan_parquet(uri, storage_options=_storage_options()) for uri in uris],
                                 how="diagonal_relaxed").collect()
    if method == "existence-check":
        return lambda: _existence(bucket, days)
    if method == "transfer-batch":
        return lambda: _through_transfer_layer(bucket, days)
    glob = f"s3://{bucket}/{DAY_AGGS.curated.listing_prefix}**/*.parquet"
    return lambda: (pl.scan_parquet(glob, hive_partitioning=True, storage_options=_storage_options())
                    .filter(pl.col("date").is_between(days[0], days[-1])).collect())


def _through_transfer_layer(bucket: str, days: list[date]) -> pl.DataFrame:
    """Check, download the days in one batch to a scratch directory, and scan the local copies."""
    keys = [DAY_AGGS.curated.key(day) for day in days]
    with tempfile.TemporaryDirectory() as scratch, _resource().open() as lake:
        present = lake.existing_keys(bucket, keys, threshold=LIST_FROM)
        refs = [S3ObjectRef(key, Path(scratch) / key) for key in keys if key in present]
        lake.download_batch(bucket, refs, overwrite=True).raise_first_failure()
        return pl.scan_parquet([ref.local_path for ref in refs]).collect()


def _existence(bucket: str, days: list[date]) -> pl.DataFrame:
    """The IO manager's existence check alone, as a frame of the row count the others return."""
    with _resource().open() as lake:
        found = lake.existing_keys(bucket, [DAY_AGGS.curated.key(day) for day in days], threshold=LIST_FROM)
    return pl.DataFrame({"n": range(len(found) * int(os.environ["BENCH_TICKERS"]))})


def child(method: str, count: int, runs: int) -> None:
    """Time one cold load and ``runs`` warm ones in this process; print them as JSON."""
    days = publishing_days("nyse", START, date(2024, 12, 31))[:count]
    times, rows = [], 0
    load = _loader(method, days)
    for _ in range(runs + 1):
        began = time.perf_counter()
        rows = load().height
        times.append(time.perf_counter() - began)
    print(json.dumps({"cold": times[0], "warm": statistics.median(times[1:]), "rows": rows}))


def write_partitions(server: EmbeddedS3, tickers: int, count: int) -> int:
    """Write ``count`` curated days of ``tickers`` rows each; return the bytes written."""
    days = publishing_days("nyse", START, date(2024, 12, 31))[:count]
    written = 0
    with S3Handler(server.transfer_config(show_progress=False)) as s3:
        for day in days:
            frame = day_aggs_frame(day, tickers).with_columns(DAY_AGGS.row_date.alias("date"))
            body = to_parquet(frame)
            s3.put_bytes(_bucket(tickers), DAY_AGGS.curated.key(day), body, overwrite=True)
            written += len(body)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="warm loads per method, after the cold one")
    parser.add_argument("--days", type=int, default=60, help="partitions per load")
    parser.add_argument("--tickers", default="100,10000", help="rows per partition, comma-separated")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "TICKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.days, args.runs)
        return
    with tempfile.TemporaryDirectory() as work:
        server = EmbeddedS3(Path(work) / "s3", free_ports())
        server.start()
        try:
            keys = server.credentials()
            env = {**os.environ, "AWS_ENDPOINT_URL": server.endpoint_url, "AWS_ACCESS_KEY_ID": keys.access_key_id,
                   "AWS_SECRET_ACCESS_KEY": keys.secret_access_key}
            print("| rows per partition | MB per load | method | cold s | warm s (median) | cold vs io-manager |")
            print("| ---: | ---: | --- | ---: | ---: | ---: |")
            for tickers in (int(t) for t in args.tickers.split(",")):
                server.ensure_buckets(_bucket(tickers))
                size = write_partitions(server, tickers, args.days)
                results = {}
                for method in METHODS:
                    out = subprocess.run([sys.executable, __file__, "--runs", str(args.runs), "--days",
                                          str(args.days), "--child", method, str(tickers)],
                                         env={**env, "BENCH_BUCKET": _bucket(tickers), "BENCH_TICKERS": str(tickers)},
                                         check=True, capture_output=True, text=True).stdout
                    results[method] = json.loads(out.strip().splitlines()[-1])
                    assert results[method]["rows"] == tickers * args.days, results[method]
                for method, result in results.items():
                    ratio = results["io-manager"]["cold"] / result["cold"]
                    print(f"| {tickers:,} | {size / 1e6:.1f} | {method} | {result['cold']:.3f} | "
                          f"{result['warm']:.3f} | {ratio:.2f} |", flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
