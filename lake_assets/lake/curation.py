"""Vendor file -> typed Parquet file, streamed: the CSV is never held in memory whole. No Dagster here.

The checks a partition must pass before it is written are declared in :mod:`lake_assets.lake.checks`.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.queries import write_and_tally

#: How polars names an operating-system error in its messages: "... (os error 28)".
_OS_ERROR = re.compile(r"\(os error (\d+)\)")


class CurationError(ValueError):
    """A vendor file that cannot be turned into a curated partition: retrying it cannot help."""


def local_io_error(exc: BaseException) -> OSError | None:
    """The local I/O failure ``exc`` is (a full temporary disk, an unreadable local file), or None when it is
    about the data: a local failure is transient, and must not pass for a bad vendor file."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc
    if isinstance(exc, (OSError, pl.exceptions.PolarsError)) and (found := _OS_ERROR.search(str(exc))):
        return OSError(int(found[1]), str(exc))  # polars' own errors carry the OS error in their text
    return None


@dataclass(frozen=True)
class VendorFile:
    """A vendor file parsed into a local Parquet file in the spec's schema (with its ``date`` column), the
    columns the vendor sent that the schema does not know, and the aggregates counted while parsing."""

    path: Path
    extra_columns: tuple[str, ...]
    tallies: Mapping[str, Any] = field(default_factory=dict)

    def scan(self) -> pl.LazyFrame:
        """The parsed rows, read lazily from the local file."""
        return pl.scan_parquet(self.path)


def parse_vendor_file(spec: DatasetSpec, source: Path, target: Path, where: str,
                      tallies: Sequence[pl.Expr] = ()) -> VendorFile:
    """Parse a gzipped vendor CSV at ``source`` into a zstd Parquet file at ``target``, streaming; columns it does
    not know are named, not parsed. The aggregates ``tallies`` (the checks', see
    :func:`~lake_assets.lake.checks.declared_tallies`) are counted over the parsed rows on the way.

    Memory stays at a few batches of rows whatever the file's size: polars decompresses, parses and writes
    in a streaming pipeline. ``target`` is written whole or not at all.

    Raises:
        CurationError: the file is not gzip or is truncated, the CSV is empty or unparsable, a column is
            missing, or a value does not fit its column's type. ``where`` (dataset, partition, object)
            leads the message.
        OSError: reading or writing the local files failed (a full disk): transient, not the vendor's.
    """
    header = _header(source, where)
    missing = [column for column in spec.schema if column not in header]
    if missing:
        raise CurationError(f"{where}: missing column(s) {missing}; the vendor sent {header}")
    rows = (pl.scan_csv(source, schema_overrides=spec.schema).select(list(spec.schema))
            .with_columns(spec.row_date.alias("date")))
    partial = target.with_name(target.name + ".partial")
    try:
        counted = write_and_tally(rows, partial, tallies)
    except (OSError, EOFError, zlib.error, pl.exceptions.PolarsError) as exc:
        partial.unlink(missing_ok=True)
        if (local := local_io_error(exc)) is not None:
            raise local from exc
        if isinstance(exc, pl.exceptions.PolarsError):
            raise CurationError(f"{where}: a value does not fit the schema {dict(spec.schema)} ({exc})") from exc
        raise CurationError(f"{where}: not valid gzip ({exc})") from exc
    partial.replace(target)
    return VendorFile(target, tuple(column for column in header if column not in spec.schema), counted)


def _header(source: Path, where: str) -> list[str]:
    """The column names of a gzipped CSV, read from its first line only."""
    try:
        with gzip.open(source, "rb") as stream:
            first = stream.readline()
            if not first.strip() and not stream.read(1 << 16).strip():
                raise CurationError(f"{where}: the file is empty")
    except (OSError, EOFError, zlib.error) as exc:
        if (local := local_io_error(exc)) is not None:
            raise local from exc
        raise CurationError(f"{where}: not valid gzip ({exc})") from exc
    try:
        return pl.read_csv(io.BytesIO(first), n_rows=0).columns
    except pl.exceptions.PolarsError as exc:
        raise CurationError(f"{where}: not a readable CSV ({exc})") from exc


def to_parquet(frame: pl.DataFrame) -> bytes:
    """Serialise a curated frame as Parquet (zstd), with statistics for predicate pushdown."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True)
    return buffer.getvalue()


def read_parquet_file(path: Path, where: str) -> pl.LazyFrame:
    """Open a local Parquet file lazily, after checking that its footer can be read.

    Raises:
        CurationError: the file is not a readable Parquet file (truncated, overwritten); names ``where``.
        OSError: the local file could not be read (transient).
    """
    try:
        pl.read_parquet_schema(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        if (local := local_io_error(exc)) is not None:
            raise local from exc
        raise CurationError(f"{where} is not a readable Parquet file ({exc})") from exc
    return pl.scan_parquet(path)
