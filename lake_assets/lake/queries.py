"""Streaming queries over a partition's rows that the checks share: counts, aggregates in one pass, digests.

Each runs on polars' streaming engine, so its memory is a few batches of rows, not the partition. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from lake_assets.lake.datasets import DatasetSpec

Frame = pl.LazyFrame | pl.DataFrame


def collect(query: pl.LazyFrame) -> pl.DataFrame:
    """Run ``query`` on the streaming engine: memory bounded by the batches, not the partition."""
    return query.collect(engine="streaming")


def height(frame: Frame) -> int:
    """How many rows ``frame`` has (from a Parquet file's footer when it is a scan)."""
    return int(collect(frame.lazy().select(pl.len())).item())


def tally(rows: pl.LazyFrame, aggregates: Sequence[pl.Expr]) -> dict[str, Any]:
    """The values of aggregate expressions over ``rows``, in one pass; keyed by each expression's text."""
    unique = _by_text(aggregates)
    return dict(zip(unique, collect(_selection(rows, unique)).row(0))) if unique else {}


def write_and_tally(rows: pl.LazyFrame, path: Path, aggregates: Sequence[pl.Expr]) -> dict[str, Any]:
    """Write ``rows`` to a zstd Parquet file at ``path`` and return :func:`tally`'s values of ``aggregates``
    over them, in one streaming pass (polars runs the plan the two queries share once): rows that cost a parse
    to produce are produced once."""
    unique = _by_text(aggregates)
    sink = rows.sink_parquet(path, compression="zstd", statistics=True, lazy=True)
    results = pl.collect_all([sink, _selection(rows, unique)] if unique else [sink], engine="streaming")
    return dict(zip(unique, results[1].row(0))) if unique else {}


def _by_text(aggregates: Sequence[pl.Expr]) -> dict[str, pl.Expr]:
    return {str(expr): expr for expr in aggregates}


def _selection(rows: pl.LazyFrame, aggregates: dict[str, pl.Expr]) -> pl.LazyFrame:
    return rows.select(expr.alias(f"_{index}") for index, expr in enumerate(aggregates.values()))


def last_closes(spec: DatasetSpec, frame: Frame) -> pl.LazyFrame:
    """Each ticker's last close of the partition (by its stamps): the day's close of day bars, the last minute's."""
    close = pl.col("close").sort_by(list(spec.stamp_columns)).last() if spec.stamp_columns else pl.col("close").last()
    return frame.lazy().group_by("ticker").agg(close)


def content_hash(spec: DatasetSpec, frame: Frame) -> str:
    """A digest of the values, stamps left out, independent of row order: sums of the rows' 64-bit hashes in one
    streaming pass (stable within one polars version only: compared within a run, never stored)."""
    values = [name for name in spec.schema if name not in spec.stamp_columns]
    row = pl.struct(values).hash(0)
    sums = collect(frame.lazy().select(pl.len(), (row // 2**32).sum().alias("high"),
                                       (row % 2**32).sum().alias("low"))).row(0)
    return "".join(f"{int(part):016x}" for part in sums)
