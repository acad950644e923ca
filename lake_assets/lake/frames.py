"""Frames onto partitions: split a range run's output by its date column, refusing rows outside the run. Pure.

A range run writes one object per partition; each row goes to the partition of its date, and a row
whose date is not one of the run's partitions is an error before anything is written (never a
partition the run was not asked for).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from lake_assets.lake.layout import partition_date, partition_key


class FrameLayoutError(ValueError):
    """A frame that cannot be written onto the partitions it was produced for."""


def split_by_day(frame: pl.DataFrame, date_column: str, keys: Sequence[str], where: str) -> dict[str, pl.DataFrame]:
    """Return each partition key's rows of ``frame`` (an empty frame for a key without rows).

    Raises:
        FrameLayoutError: ``frame`` has no ``date_column`` of type Date, or rows dated outside ``keys``;
            the message names ``where`` and a few of the dates.
    """
    if frame.schema.get(date_column) != pl.Date():
        raise FrameLayoutError(f"{where}: a range run's output needs a Date column {date_column!r} to split it onto "
                               f"its partitions; it has {dict(frame.schema)}")
    wanted = {partition_date(key) for key in keys}
    outside = frame.filter(~pl.col(date_column).is_in(sorted(wanted)))
    if outside.height:
        dates = sorted({partition_key(day) for day in outside[date_column].drop_nulls().to_list()})
        nulls = outside[date_column].null_count()
        raise FrameLayoutError(f"{where}: {outside.height} row(s) dated outside the run's partitions "
                               f"{keys[0]}..{keys[-1]} ({', '.join(dates[:5])}{', null' if nulls else ''}); "
                               f"nothing was written")
    return {key: frame.filter(pl.col(date_column) == partition_date(key)) for key in keys}
