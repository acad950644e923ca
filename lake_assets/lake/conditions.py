"""What makes a row bad, per check: conditions by name, each true on an offending row. Pure.

The checks count them (all in one pass over a partition) and quote a few rows meeting them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

import polars as pl

from lake_assets.lake.datasets import DatasetSpec

#: Conditions of a dataset's day, by name (a column, or ``rows``).
Conditions = Callable[[DatasetSpec, date], dict[str, pl.Expr]]
PRICES = ("open", "close", "high", "low")


def null_keys(spec: DatasetSpec, day: date) -> dict[str, pl.Expr]:
    """A key column is null."""
    return {column: pl.col(column).is_null() for column in spec.key_columns}


def non_finite(spec: DatasetSpec, day: date) -> dict[str, pl.Expr]:
    """A floating-point value is NaN or infinite."""
    return {name: ~pl.col(name).is_finite() for name, dtype in spec.schema.items() if dtype.is_float()}


def below(columns: Callable[[DatasetSpec], Sequence[str]], minimum: float, strict: bool) -> Conditions:
    """A value of ``columns`` not above ``minimum`` (``strict``), or below it."""
    return lambda spec, day: {name: (pl.col(name) <= minimum) if strict else (pl.col(name) < minimum)
                              for name in columns(spec)}


NOT_POSITIVE = below(lambda spec: PRICES, 0.0, strict=True)
NEGATIVE = below(lambda spec: spec.count_columns, 0.0, strict=False)


def inconsistent(spec: DatasetSpec, day: date) -> dict[str, pl.Expr]:
    """low above open or close, or high below them."""
    return {"rows": (pl.col("low") > pl.min_horizontal("open", "close"))
            | (pl.col("high") < pl.max_horizontal("open", "close"))}


def outside(spec: DatasetSpec, day: date) -> dict[str, pl.Expr]:
    """A row dated another day than the partition's."""
    return {"rows": pl.col("date") != day}
