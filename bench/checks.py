"""What each check costs per partition, in process (no S3): the time to judge one day of a dataset.

    .venv/bin/python bench/checks.py --runs 20 [--tickers 100,10000]

Generates ``day_aggs`` days of each ticker count (and one day of the 40-node nodal prices), parses them as
curation does, gives the history checks the 5 earlier days, and times each check of the registry (median
of ``--runs``). Reading the history from S3 is not included: that is one batch of 5 GETs per run, the days of a
range run being each other's history. Prints a Markdown table; ``bench/RESULTS.md`` keeps the figures.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl

from lake_assets.cli.sample import day_aggs_frame, gzip_csv, nodal_frame
from lake_assets.lake.calendars import publishing_days
from lake_assets.lake.checks import Subject, checks_for
from lake_assets.lake.curation import parse_vendor_file
from lake_assets.lake.datasets import DAY_AGGS, NODAL_PRICES, DatasetSpec

DAYS = publishing_days("nyse", date(2024, 1, 2), date(2024, 1, 9))  # 5 earlier days and the one checked


def parsed(spec: DatasetSpec, day: date, tickers: int) -> pl.DataFrame:
    """One generated vendor day, parsed as curation parses it."""
    data = day_aggs_frame(day, tickers) if spec is DAY_AGGS else nodal_frame(day)
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "data.csv.gz"
        source.write_bytes(gzip_csv(data))
        return pl.read_parquet(parse_vendor_file(spec, source, Path(work) / "data.parquet", "bench").path)


def subject(spec: DatasetSpec, tickers: int) -> Subject:
    """The last of ``DAYS`` with the others as its history."""
    return Subject(spec, DAYS[-1], parsed(spec, DAYS[-1], tickers), (),
                   [(day, parsed(spec, day, tickers)) for day in DAYS[:-1]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="timings per check (median)")
    parser.add_argument("--tickers", default="100,10000", help="day_aggs rows per day, comma-separated")
    args = parser.parse_args()
    cases = [(DAY_AGGS, int(t)) for t in args.tickers.split(",")] + [(NODAL_PRICES, 0)]
    print("| dataset | rows | check | severity | ms per partition (median) |")
    print("| --- | ---: | --- | --- | ---: |")
    for spec, tickers in cases:
        checked = subject(spec, tickers)
        total = 0.0
        for check in checks_for(spec):
            times = []
            for _ in range(args.runs):
                began = time.perf_counter()
                check.outcome(checked)
                times.append(time.perf_counter() - began)
            median = statistics.median(times) * 1000
            total += median
            print(f"| {spec.name} | {checked.frame.height:,} | `{check.name}` | {check.severity} | {median:.2f} |")
        print(f"| {spec.name} | {checked.frame.height:,} | all | | {total:.2f} |", flush=True)


if __name__ == "__main__":
    main()
