"""Vendor bytes -> typed polars frame -> Parquet bytes. No Dagster here.

The checks a frame must pass before it is written are declared in :mod:`lake_assets.lake.checks`.
"""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass

import polars as pl

from lake_assets.lake.datasets import DatasetSpec


class CurationError(ValueError):
    """A vendor file that cannot be turned into a curated partition: retrying it cannot help."""


@dataclass(frozen=True)
class VendorFile:
    """A parsed vendor file: its rows in the spec's schema, and the columns it had that the schema does not."""

    frame: pl.DataFrame
    extra_columns: tuple[str, ...]


def parse_vendor_file(spec: DatasetSpec, data: bytes, where: str) -> VendorFile:
    """Gunzip and parse a vendor CSV into the spec's schema; columns it does not know are named, not parsed.

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
    extra = tuple(column for column in header if column not in spec.schema)
    return VendorFile(frame.select(list(spec.schema)).with_columns(spec.row_date.alias("date")), extra)


def to_parquet(frame: pl.DataFrame) -> bytes:
    """Serialise a curated frame as Parquet (zstd), with statistics for predicate pushdown."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True)
    return buffer.getvalue()
