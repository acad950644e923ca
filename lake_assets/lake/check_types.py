"""What the checks are written in: the subject they judge, the outcome of one check, and the concerns that group
them (each fixing its checks' severity). Plain Python: :mod:`lake_assets.lake.checks` declares the checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import polars as pl

from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.queries import Frame, tally

#: What a check function returns: whether the partition passed, and what it found.
Verdict = tuple[bool, str]
Severity = Literal["error", "warn"]


@dataclass(frozen=True)
class Subject:
    """What the checks look at: one partition's rows (with their ``date`` column; usually a scan of a local
    Parquet file, each check a streaming query over it), the vendor's columns the schema does not know, and
    earlier curated partitions (newest last, at most a few)."""

    spec: DatasetSpec
    day: date
    frame: Frame
    extra_columns: tuple[str, ...] = ()
    history: Sequence[tuple[date, Frame]] = ()
    tallies: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> pl.LazyFrame:
        """The partition's rows, lazily."""
        return self.frame.lazy()

    def aggregate(self, *aggregates: pl.Expr) -> list[Any]:
        """The values of aggregates over the rows: looked up in ``tallies`` (every check's declared aggregates,
        counted while parsing or by :func:`check_partition`), the others computed now."""
        found = {**self.tallies, **tally(self.rows, [a for a in aggregates if str(a) not in self.tallies])}
        return [found[str(aggregate)] for aggregate in aggregates]


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one check on one partition."""

    name: str
    passed: bool
    detail: str
    severity: Severity = "error"
    concern: str = "structure"

    @property
    def blocks(self) -> bool:
        """Whether this outcome keeps the partition out of the curated zone."""
        return not self.passed and self.severity == "error"


@dataclass(frozen=True)
class Concern:
    """What a group of checks guards, and so how a failure of one of them counts: ``error`` keeps the partition
    out of the curated zone, ``warn`` reports it and writes the partition. Dagster shows one check per concern."""

    name: str
    severity: Severity
    description: str


#: The concerns, in the order their checks run and are listed.
CONCERNS: tuple[Concern, ...] = (
    Concern("structure", "error", "The file's shape: rows, columns and types, keys, every row in its day."),
    Concern("values", "error", "Every value is plausible on its own: finite, positive prices, non-negative "
            "counts, consistent OHLC, a full day of hours."),
    Concern("drift", "warn", "The day looks like the vendor's earlier days: no unknown column, a usual row "
            "count, no ticker jumping 5x, not a copy of an earlier day, on a day the calendar opens; and no vendor "
            "correction of the day waits in quarantine (the lake then serves the last good file)."),
)
CONCERNS_BY_NAME = {concern.name: concern for concern in CONCERNS}
