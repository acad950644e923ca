"""The checks a curated partition must pass, each declared once: name, description, datasets, function.

Curation runs them before it writes (a partition that fails one is never written, so the last good
curated partition stays as it was); the curated asset declares one Dagster check spec per entry;
the README's table lists them. No Dagster here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import polars as pl

from lake_assets.lake.datasets import DatasetSpec

#: What a check function returns: whether the partition passed, and what it found.
Verdict = tuple[bool, str]


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one check on one partition."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Check:
    """One data check: ``run(spec, frame, day)`` judges a partition's rows (with their ``date`` column)."""

    name: str
    description: str
    run: Callable[[DatasetSpec, pl.DataFrame, date], Verdict]
    applies_to: Callable[[DatasetSpec], bool] = lambda spec: True
    datasets: str = "all"

    def outcome(self, spec: DatasetSpec, frame: pl.DataFrame, day: date) -> CheckOutcome:
        """Run the check and name its result."""
        passed, detail = self.run(spec, frame, day)
        return CheckOutcome(self.name, passed, detail)


def _not_empty(spec: DatasetSpec, frame: pl.DataFrame, day: date) -> Verdict:
    return frame.height > 0, f"{frame.height} rows"


def _schema(spec: DatasetSpec, frame: pl.DataFrame, day: date) -> Verdict:
    expected = {**spec.schema, "date": pl.Date()}
    actual = dict(frame.schema)
    wrong = {name: str(actual.get(name)) for name, dtype in expected.items() if actual.get(name) != dtype}
    return not wrong, f"mismatched columns: {wrong}" if wrong else "as declared"


def _no_null_keys(spec: DatasetSpec, frame: pl.DataFrame, day: date) -> Verdict:
    nulls = {column: frame[column].null_count() for column in spec.key_columns if frame[column].null_count()}
    return not nulls, f"null keys: {nulls}" if nulls else "no null keys"


def _no_duplicate_keys(spec: DatasetSpec, frame: pl.DataFrame, day: date) -> Verdict:
    duplicated = frame.height - frame.unique(subset=list(spec.key_columns)).height
    return duplicated == 0, f"{duplicated} rows repeat a key {spec.key_columns}" if duplicated else "every key once"


def _ohlc(spec: DatasetSpec, frame: pl.DataFrame, day: date) -> Verdict:
    bad = frame.filter(
        (pl.col("low") > pl.min_horizontal("open", "close")) | (pl.col("high") < pl.max_horizontal("open", "close"))
    )
    return bad.height == 0, (f"{bad.height} rows with low > open/close or high < open/close" if bad.height
                             else "low <= open, close <= high on every row")


def _rows_in_partition(spec: DatasetSpec, frame: pl.DataFrame, day: date) -> Verdict:
    outside = frame.filter(pl.col("date") != day)
    detail = (f"{outside.height} rows dated {sorted(set(outside['date'].to_list()))[:5]}, not {day}"
              if outside.height else f"every row dated {day}")
    return outside.height == 0, detail


#: Every check, in the order they run and are listed.
CHECKS: tuple[Check, ...] = (
    Check("not_empty", "The partition has at least one row.", _not_empty),
    Check("schema", "Columns and types are exactly as declared.", _schema),
    Check("no_null_keys", "Key columns are never null.", _no_null_keys),
    Check("no_duplicate_keys", "No two rows share a key.", _no_duplicate_keys),
    Check("ohlc_consistent", "low <= open, close <= high on every row.", _ohlc,
          applies_to=lambda spec: spec.ohlc, datasets="datasets with OHLC prices (`ohlc=True`)"),
    Check("rows_in_partition", "Every row's date equals the partition's date.", _rows_in_partition),
)


def checks_for(spec: DatasetSpec) -> list[Check]:
    """Return the checks that apply to ``spec``, in registry order."""
    return [check for check in CHECKS if check.applies_to(spec)]


def check_partition(spec: DatasetSpec, frame: pl.DataFrame, day: date) -> list[CheckOutcome]:
    """Run every check that applies to ``spec`` on one partition's rows (with their ``date`` column)."""
    return [check.outcome(spec, frame, day) for check in checks_for(spec)]
