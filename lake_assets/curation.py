"""Vendor bytes -> typed polars frame, and the checks a curated partition must pass. No Dagster here.

A partition that fails a blocking check is never written, so the last good curated partition stays
as it was; the messages name the dataset, the partition and the object.
"""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass
from datetime import date

import polars as pl

from lake_assets.datasets import DatasetSpec


class CurationError(ValueError):
    """A vendor file that cannot be turned into a curated partition."""


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one data check on one partition."""

    name: str
    passed: bool
    detail: str


CHECK_NAMES = ("not_empty", "schema", "no_null_keys", "no_duplicate_keys", "ohlc_consistent", "rows_in_partition")


def parse_vendor_file(spec: DatasetSpec, data: bytes, where: str) -> pl.DataFrame:
    """Gunzip and parse a vendor CSV into the spec's schema; extra vendor columns are dropped.

    Raises:
        CurationError: the bytes are not gzip, the CSV is empty or unparsable, a column is missing,
            or a value does not fit its column's type. ``where`` (dataset, partition, object) leads
            the message.
    """
    try:
        text = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise CurationError(f"{where}: not valid gzip ({exc})") from exc
    if not text.strip():
        raise CurationError(f"{where}: the file is empty")
    try:
        header = pl.read_csv(io.BytesIO(text), n_rows=0).columns
    except pl.exceptions.PolarsError as exc:
        raise CurationError(f"{where}: not a readable CSV ({exc})") from exc
    missing = [column for column in spec.schema if column not in header]
    if missing:
        raise CurationError(f"{where}: missing column(s) {missing}; the vendor sent {header}")
    try:
        frame = pl.read_csv(io.BytesIO(text), columns=list(spec.schema), schema_overrides=spec.schema)
    except pl.exceptions.PolarsError as exc:
        raise CurationError(f"{where}: a value does not fit the schema {dict(spec.schema)} ({exc})") from exc
    return frame.select(list(spec.schema)).with_columns(spec.row_date.alias("date"))


def check_partition(spec: DatasetSpec, frame: pl.DataFrame, day: date) -> list[CheckOutcome]:
    """Run every check that applies to ``spec`` on one partition's rows (with their ``date`` column)."""
    outcomes = [
        CheckOutcome("not_empty", frame.height > 0, f"{frame.height} rows"),
        _schema(spec, frame),
        _no_null_keys(spec, frame),
        _no_duplicate_keys(spec, frame),
        _rows_in_partition(frame, day),
    ]
    if spec.ohlc:
        outcomes.append(_ohlc(frame))
    return outcomes


def _schema(spec: DatasetSpec, frame: pl.DataFrame) -> CheckOutcome:
    expected = {**spec.schema, "date": pl.Date()}
    actual = dict(frame.schema)
    wrong = {name: str(actual.get(name)) for name, dtype in expected.items() if actual.get(name) != dtype}
    return CheckOutcome("schema", not wrong, f"mismatched columns: {wrong}" if wrong else "as declared")


def _no_null_keys(spec: DatasetSpec, frame: pl.DataFrame) -> CheckOutcome:
    nulls = {column: frame[column].null_count() for column in spec.key_columns if frame[column].null_count()}
    return CheckOutcome("no_null_keys", not nulls, f"null keys: {nulls}" if nulls else "no null keys")


def _no_duplicate_keys(spec: DatasetSpec, frame: pl.DataFrame) -> CheckOutcome:
    duplicated = frame.height - frame.unique(subset=list(spec.key_columns)).height
    return CheckOutcome("no_duplicate_keys", duplicated == 0,
                        f"{duplicated} rows repeat a key {spec.key_columns}" if duplicated else "every key once")


def _rows_in_partition(frame: pl.DataFrame, day: date) -> CheckOutcome:
    outside = frame.filter(pl.col("date") != day)
    detail = (f"{outside.height} rows dated {sorted(set(outside['date'].to_list()))[:5]}, not {day}"
              if outside.height else f"every row dated {day}")
    return CheckOutcome("rows_in_partition", outside.height == 0, detail)


def _ohlc(frame: pl.DataFrame) -> CheckOutcome:
    bad = frame.filter(
        (pl.col("low") > pl.min_horizontal("open", "close")) | (pl.col("high") < pl.max_horizontal("open", "close"))
    )
    return CheckOutcome("ohlc_consistent", bad.height == 0,
                        f"{bad.height} rows with low > open/close or high < open/close" if bad.height
                        else "low <= open, close <= high on every row")


def to_parquet(frame: pl.DataFrame) -> bytes:
    """Serialise a curated frame as Parquet (zstd), with statistics for predicate pushdown."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True)
    return buffer.getvalue()
