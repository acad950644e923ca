"""A dataset, declared once: where the vendor publishes it, its schema, calendar and lake layout."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from lake_assets.lake.calendars import Calendar
from lake_assets.lake.layout import HiveLayout, KeyTemplate

#: File name of a month's summary under its ``year=YYYY/month=MM/`` prefix.
ROLLUP_FILENAME = "summary.parquet"


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the Dagster factory needs to build one dataset's assets, checks, sensor and schedule.

    Attributes:
        name: Dataset name; used in asset keys (``<name>_raw``) and lake keys (``dataset=<name>``).
        description: One paragraph shown in the Dagster UI.
        source: The vendor's key template within the vendor bucket.
        schema: Vendor CSV columns and their types, in the vendor's order.
        key_columns: Columns that must never be null (a row's identity).
        row_date: Expression giving each row's date, which must equal its partition's date.
        start_date: First day the vendor published.
        calendar: Days the vendor publishes on; other days are not partitions.
        timezone: The IANA timezone the vendor's days are in; a partition is a day of that timezone.
        due: When the vendor's file for day D is expected, after the start of D in ``timezone``
            (negative when it is published before the day begins, as day-ahead prices are).
        ohlc: Whether rows carry open/high/low/close prices that must be consistent and positive.
        count_columns: Columns of counts (volume, trades) that must not be negative.
        hourly_per: For hourly data, the column whose every value must have one row per hour of the local
            day (23, 24 or 25 across daylight saving), or None.
        stamp_columns: Columns that carry the row's date or time; left out of the content hash, so a
            file re-published under another date with only its stamps changed is found.
        jump_factor: How far a close may move from the previous curated close (up or down, as a ratio)
            before the history check warns of it (a missed split, a wrong decimal).
        rollup: Turns a month of curated rows (with a ``date`` column) into the monthly summary.
        owners: Owners shown in the UI.
        chunk: Most partitions one backfill run materialises (``BackfillPolicy.multi_run``): about a year of
            trading days, since under the daemon each run pays a process start of about 6 s.
    """

    name: str
    description: str
    source: KeyTemplate
    schema: dict[str, pl.DataType]
    key_columns: tuple[str, ...]
    row_date: pl.Expr
    start_date: date
    calendar: Calendar
    timezone: str
    due: timedelta
    rollup: Callable[[pl.LazyFrame], pl.LazyFrame]
    ohlc: bool = False
    count_columns: tuple[str, ...] = ()
    hourly_per: str | None = None
    stamp_columns: tuple[str, ...] = ()
    jump_factor: float = 5.0
    owners: tuple[str, ...] = ("team:data-platform",)
    chunk: int = 250
    raw_filename: str = field(default="data.csv.gz")

    @property
    def end_offset(self) -> int:
        """Dagster's ``end_offset`` for the daily partitions: a day's partition exists from the day its file is
        due (0 when that is after the day ends; 2 for day-ahead prices, so tomorrow exists today)."""
        return max(0, 1 - self.due // timedelta(days=1))

    def due_at(self, day: date) -> datetime:
        """When the vendor's file for ``day`` is expected, as an aware datetime."""
        return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(self.timezone)) + self.due

    @property
    def raw(self) -> HiveLayout:
        """Where the vendor's files are mirrored, byte for byte."""
        return HiveLayout(f"raw/dataset={self.name}", self.raw_filename)

    @property
    def quarantine(self) -> HiveLayout:
        """Where a vendor file waits that would replace a raw copy that curated, until it curates itself (the
        raw zone keeps the last good file); ``quarantine_reason`` says why one failed."""
        return HiveLayout(f"quarantine/dataset={self.name}", self.raw_filename)

    @property
    def quarantine_reason(self) -> HiveLayout:
        """Beside a quarantined vendor file: why it did not curate, as text."""
        return HiveLayout(f"quarantine/dataset={self.name}", "reason.txt")

    @property
    def curated(self) -> HiveLayout:
        """Where the typed Parquet partitions live."""
        return HiveLayout(f"curated/dataset={self.name}", "data.parquet")

    @property
    def rollup_prefix(self) -> str:
        """Prefix of the monthly summary's ``year=YYYY/month=MM/summary.parquet`` keys."""
        return f"rollup/dataset={self.name}_monthly"

    def rollup_key(self, year: int, month: int) -> str:
        """Return the key of one month's summary."""
        return f"{self.rollup_prefix}/year={year:04d}/month={month:02d}/{ROLLUP_FILENAME}"

    def rollup_month(self, key: str) -> str | None:
        """Return the month partition key (``YYYY-MM-01``) a summary key names, or None for any other key."""
        match = re.fullmatch(re.escape(self.rollup_prefix) + r"/year=(\d{4})/month=(\d{2})/summary\.parquet", key)
        return f"{match[1]}-{match[2]}-01" if match else None
