"""Deterministic, realistic vendor files for the demo and the tests: same arguments, same bytes."""

from __future__ import annotations

import gzip
import io
import random
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import polars as pl

from lake_assets.lake.calendars import publishing_days
from lake_assets.lake.datasets import DAY_AGGS, NODAL_PRICES, DatasetSpec
from lake_assets.s3 import S3Handler

_NEW_YORK = ZoneInfo("America/New_York")


def tickers(count: int) -> list[str]:
    """Return ``count`` distinct, stable ticker symbols."""
    rng = random.Random(7)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    symbols: set[str] = set()
    while len(symbols) < count:
        symbols.add("".join(rng.choice(letters) for _ in range(rng.randint(2, 4))))
    return sorted(symbols)


def day_aggs_frame(day: date, ticker_count: int = 100) -> pl.DataFrame:
    """One trading day of day aggregates: a random walk per ticker, seeded by ticker and date."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=_NEW_YORK).astimezone(timezone.utc)
    window_start = int(midnight.timestamp()) * 1_000_000_000
    rows = []
    for symbol in tickers(ticker_count):
        rng = random.Random(f"{symbol}-{day.isoformat()}")
        base = random.Random(symbol).uniform(5, 500) * (1 + (day.toordinal() % 97) / 1000)
        open_, close = base * rng.uniform(0.98, 1.02), base * rng.uniform(0.98, 1.02)
        high, low = max(open_, close) * rng.uniform(1.0, 1.02), min(open_, close) * rng.uniform(0.98, 1.0)
        rows.append((symbol, rng.randint(10_000, 5_000_000), round(open_, 4), round(close, 4), round(high, 4),
                     round(low, 4), window_start, rng.randint(100, 50_000)))
    return pl.DataFrame(rows, schema=DAY_AGGS.schema, orient="row")


def nodal_frame(day: date, node_count: int = 40) -> pl.DataFrame:
    """One day of hourly day-ahead prices for ``node_count`` nodes, seeded by node and date: one row per hour
    of the Chicago day (23 or 25 on daylight-saving days), stamped with the hour's start in UTC."""
    chicago = ZoneInfo(NODAL_PRICES.timezone)
    first = datetime(day.year, day.month, day.day, tzinfo=chicago).astimezone(timezone.utc)
    following = day + timedelta(days=1)
    hours = int((datetime(following.year, following.month, following.day, tzinfo=chicago)
                 .astimezone(timezone.utc) - first) / timedelta(hours=1))
    rows = []
    for index in range(node_count):
        node = f"SPP_NODE_{index:03d}"
        rng = random.Random(f"{node}-{day.isoformat()}")
        for offset in range(hours):
            start = first + timedelta(hours=offset)
            energy = 20 + 15 * (1 if 8 <= start.astimezone(chicago).hour <= 20 else 0) + rng.uniform(-5, 5)
            congestion, loss = rng.uniform(-3, 6), rng.uniform(-0.5, 1.5)
            rows.append((start.replace(tzinfo=None), node, round(energy + congestion + loss, 4), round(energy, 4),
                         round(congestion, 4), round(loss, 4)))
    return pl.DataFrame(rows, schema=NODAL_PRICES.schema, orient="row")


#: The generator of each shipped dataset's sample vendor frames, by dataset name.
GENERATORS: dict[str, Callable[[date], pl.DataFrame]] = {DAY_AGGS.name: day_aggs_frame,
                                                         NODAL_PRICES.name: nodal_frame}


def vendor_file(spec: DatasetSpec, day: date) -> bytes:
    """Return the gzipped CSV the vendor of ``spec`` publishes for ``day``.

    Raises:
        KeyError: ``spec`` has no sample generator (add one to :data:`GENERATORS`).
    """
    try:
        generate = GENERATORS[spec.name]
    except KeyError:
        raise KeyError(f"no sample generator for dataset {spec.name!r}; add one to "
                       f"lake_assets.cli.sample.GENERATORS") from None
    return gzip_csv(generate(day))


def unsampled(specs: Sequence[DatasetSpec]) -> list[str]:
    """The names of the specs that have no sample generator (their vendor files are the vendor's own)."""
    return [spec.name for spec in specs if spec.name not in GENERATORS]


def gzip_csv(frame: pl.DataFrame) -> bytes:
    """Return ``frame`` as a gzipped CSV with a header row, with a fixed gzip timestamp (same bytes each time)."""
    buffer = io.BytesIO()
    frame.write_csv(buffer)
    return gzip.compress(buffer.getvalue(), mtime=0)


def publish_sample(vendor: S3Handler, bucket: str, specs: Sequence[DatasetSpec], start: date, end: date) -> int:
    """Publish the vendor files of each spec that has a sample generator for its publishing days in
    ``[start, end]``; return how many were new. A spec without one (:func:`unsampled`) is left to the
    files its vendor prefix holds.

    Files already there are kept (``overwrite=False``), so publishing twice changes nothing and the
    lake built from the first publication stays complete.
    """
    written = 0
    for spec in specs:
        if spec.name not in GENERATORS:
            continue
        for day in publishing_days(spec.calendar, max(start, spec.start_date), end):
            written += vendor.put_bytes(bucket, spec.source.key(day), vendor_file(spec, day), content_type="application/gzip",
                                        metadata={"dataset": spec.name})
    return written
