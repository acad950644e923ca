"""The checks a curated partition must pass, each declared once: name, severity, description, datasets, function.

Curation runs them before it writes. A partition that fails an ``error`` check is never written, so
the last good curated partition stays as it was; a ``warn`` check (schema drift, comparisons with
earlier days) is reported and the partition written. The curated asset declares one Dagster check
spec per entry, blocking for errors; the README's table lists them. No Dagster here.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Literal
from zoneinfo import ZoneInfo

import polars as pl

from lake_assets.lake.datasets import DatasetSpec

#: What a check function returns: whether the partition passed, and what it found.
Verdict = tuple[bool, str]
Severity = Literal["error", "warn"]
#: Offending rows a check quotes.
EXAMPLES = 3
#: A row count outside [median / factor, median * factor] of the earlier days is "far from" it.
ROW_COUNT_FACTOR = 2.0
PRICES = ("open", "close", "high", "low")


Frame = pl.LazyFrame | pl.DataFrame


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

    @property
    def rows(self) -> pl.LazyFrame:
        """The partition's rows, lazily."""
        return self.frame.lazy()


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one check on one partition."""

    name: str
    passed: bool
    detail: str
    severity: Severity = "error"

    @property
    def blocks(self) -> bool:
        """Whether this outcome keeps the partition out of the curated zone."""
        return not self.passed and self.severity == "error"


@dataclass(frozen=True)
class Check:
    """One data check: ``run(subject)`` judges a partition."""

    name: str
    description: str
    run: Callable[[Subject], Verdict]
    applies_to: Callable[[DatasetSpec], bool] = lambda spec: True
    datasets: str = "all"
    severity: Severity = "error"

    def outcome(self, subject: Subject) -> CheckOutcome:
        """Run the check and name its result."""
        passed, detail = self.run(subject)
        return CheckOutcome(self.name, passed, detail, self.severity)


def _collect(query: pl.LazyFrame) -> pl.DataFrame:
    """Run a check's query on the streaming engine: memory bounded by the batches, not the partition."""
    return query.collect(engine="streaming")


def height(frame: Frame) -> int:
    """How many rows ``frame`` has (from a Parquet file's footer when it is a scan)."""
    return int(_collect(frame.lazy().select(pl.len())).item())


def _counts(subject: Subject, conditions: dict[str, pl.Expr]) -> dict[str, int]:
    """How many rows meet each condition, in one pass; only the conditions some row meets."""
    counts = _collect(subject.rows.select(condition.sum().alias(name) for name, condition in conditions.items()))
    return {name: int(value) for name, value in counts.row(0, named=True).items() if value}


def _examples(subject: Subject, condition: pl.Expr, columns: Sequence[str]) -> str:
    """A few rows meeting ``condition``, by their key columns and the given columns: ``ticker=AAA open=nan``."""
    shown = [*subject.spec.key_columns, *(c for c in columns if c not in subject.spec.key_columns)]
    rows = _collect(subject.rows.filter(condition).select(shown).head(EXAMPLES))
    return "; ".join(" ".join(f"{name}={row[name]}" for name in shown) for row in rows.to_dicts())


def _not_empty(subject: Subject) -> Verdict:
    rows = height(subject.frame)
    return rows > 0, f"{rows} rows"


def _schema(subject: Subject) -> Verdict:
    expected = {**subject.spec.schema, "date": pl.Date()}
    actual = dict(subject.rows.collect_schema())
    wrong = {name: str(actual.get(name)) for name, dtype in expected.items() if actual.get(name) != dtype}
    return not wrong, f"mismatched columns: {wrong}" if wrong else "as declared"


def _unknown_columns(subject: Subject) -> Verdict:
    extra = list(subject.extra_columns)
    return not extra, (f"the vendor sent {len(extra)} column(s) the schema does not know, not curated: {extra}"
                       if extra else "no unknown columns")


def _no_null_keys(subject: Subject) -> Verdict:
    nulls = _counts(subject, {column: pl.col(column).is_null() for column in subject.spec.key_columns})
    return not nulls, f"null keys: {nulls}" if nulls else "no null keys"


def _no_duplicate_keys(subject: Subject) -> Verdict:
    keys = list(subject.spec.key_columns)
    distinct = _collect(subject.rows.select(pl.len().alias("rows"), pl.struct(keys).hash(0).n_unique().alias("keys")))
    if distinct["rows"].item() == distinct["keys"].item():  # distinct hashes: distinct keys
        return True, "every key once"
    rows = _counts(subject, {"rows": pl.struct(keys).is_duplicated()}).get("rows", 0)
    return rows == 0, (f"{rows} rows share a key {tuple(keys)}, e.g. "
                       f"{_examples(subject, pl.struct(keys).is_duplicated(), [])}" if rows else "every key once")


def _bad_values(subject: Subject, conditions: dict[str, pl.Expr], what: str) -> tuple[bool, str | None]:
    """Whether no row meets any of ``conditions`` (by column); else the columns' counts and examples."""
    bad = _counts(subject, conditions)
    return not bad, "; ".join(f"{name}: {count} {what}, e.g. {_examples(subject, conditions[name], [name])}"
                              for name, count in bad.items()) or None


def _finite(subject: Subject) -> Verdict:
    floats = [name for name, dtype in subject.spec.schema.items() if dtype.is_float()]
    passed, detail = _bad_values(subject, {name: ~pl.col(name).is_finite() for name in floats},
                                 "NaN or infinite value(s)")
    return passed, detail or f"every value of {floats} finite"


def _bounded(columns: Callable[[DatasetSpec], Sequence[str]], minimum: float, strict: bool) -> Callable[
        [Subject], Verdict]:
    """A check that every value of ``columns`` is above ``minimum`` (``strict``) or at least it."""
    def run(subject: Subject) -> Verdict:
        names = list(columns(subject.spec))
        relation = ">" if strict else ">="
        passed, detail = _bad_values(
            subject, {name: (pl.col(name) <= minimum) if strict else (pl.col(name) < minimum) for name in names},
            f"value(s) not {relation} {minimum:g}")
        return passed, detail or f"{names} all {relation} {minimum:g}"
    return run


def _ohlc(subject: Subject) -> Verdict:
    inconsistent = (pl.col("low") > pl.min_horizontal("open", "close")) | (
        pl.col("high") < pl.max_horizontal("open", "close"))
    bad = _counts(subject, {"rows": inconsistent}).get("rows", 0)
    shown = _examples(subject, inconsistent, PRICES) if bad else ""
    return not bad, (f"{bad} rows with low > open/close or high < open/close, e.g. {shown}" if bad
                     else "low <= open, close <= high on every row")


def _rows_in_partition(subject: Subject) -> Verdict:
    outside, day = subject.rows.filter(pl.col("date") != subject.day), subject.day
    count = height(outside)
    dates = _collect(outside.select(pl.col("date").unique().sort().head(5)))["date"].to_list() if count else []
    return count == 0, f"{count} rows dated {dates}, not {day}" if count else f"every row dated {day}"


def hours_in_day(day: date, zone_name: str) -> int:
    """How many hours the local ``day`` has in ``zone_name``: 24, or 23 and 25 on daylight-saving days."""
    zone = ZoneInfo(zone_name)
    following = day + timedelta(days=1)
    span = (datetime(following.year, following.month, following.day, tzinfo=zone).astimezone(timezone.utc)
            - datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(timezone.utc))
    return int(span.total_seconds() // 3600)


def _hours_per(subject: Subject) -> Verdict:
    column = subject.spec.hourly_per or ""
    expected = hours_in_day(subject.day, subject.spec.timezone)
    counts = _collect(subject.rows.group_by(column).len().filter(pl.col("len") != expected).sort(column))
    shown = ", ".join(f"{row[column]}={row['len']}" for row in counts.head(EXAMPLES).to_dicts())
    return counts.height == 0, (f"{counts.height} {column}(s) without {expected} hourly rows "
                                f"({subject.day} has {expected} hours in {subject.spec.timezone}), e.g. {shown}"
                                if counts.height else f"{expected} hourly rows per {column}")


def _compared(subject: Subject) -> str:
    days = [day for day, _ in subject.history]
    return f"{days[0]}..{days[-1]} ({len(days)} day(s))" if len(days) > 1 else str(days[0])


def _row_count(subject: Subject) -> Verdict:
    if not subject.history:
        return True, "no earlier partition to compare with"
    median = float(statistics.median(height(frame) for _, frame in subject.history))
    rows = height(subject.frame)
    far = not median / ROW_COUNT_FACTOR <= rows <= median * ROW_COUNT_FACTOR
    return not far, (f"{rows} rows against a median of {median:g} over {_compared(subject)}"
                     + (f": outside {1 / ROW_COUNT_FACTOR:g}x..{ROW_COUNT_FACTOR:g}x (a truncated file?)" if far
                        else ""))


def last_closes(spec: DatasetSpec, frame: Frame) -> pl.LazyFrame:
    """Each ticker's last close of the partition (by its stamps): the day's close of day bars, the last minute's."""
    close = pl.col("close").sort_by(list(spec.stamp_columns)).last() if spec.stamp_columns else pl.col("close").last()
    return frame.lazy().group_by("ticker").agg(close)


def _close_moves(subject: Subject) -> Verdict:
    if not subject.history:
        return True, "no earlier partition to compare with"
    before, previous = subject.history[-1]
    factor = subject.spec.jump_factor
    joined = _collect(last_closes(subject.spec, subject.frame).join(
        last_closes(subject.spec, previous).select("ticker", pl.col("close").alias("previous_close")), on="ticker"))
    moved = joined.filter((pl.col("close") / pl.col("previous_close") > factor)
                          | (pl.col("previous_close") / pl.col("close") > factor)).sort("ticker")
    share = moved.height / joined.height if joined.height else 0.0
    shown = ", ".join(f"{row['ticker']} {row['previous_close']:g} -> {row['close']:g}"
                      for row in moved.head(EXAMPLES).to_dicts())
    return moved.height == 0, (f"{moved.height} of {joined.height} tickers ({share:.1%}) closed more than "
                               f"{factor:g}x away from their {before} close, e.g. {shown}" if moved.height
                               else f"no close moved more than {factor:g}x from {before} ({joined.height} tickers)")


def content_hash(spec: DatasetSpec, frame: Frame) -> str:
    """A digest of the values, stamps left out, independent of row order: sums of the rows' 64-bit hashes in one
    streaming pass (stable within one polars version only: compared within a run, never stored)."""
    values = [name for name in spec.schema if name not in spec.stamp_columns]
    row = pl.struct(values).hash(0)
    sums = _collect(frame.lazy().select(pl.len(), (row // 2**32).sum().alias("high"),
                                        (row % 2**32).sum().alias("low"))).row(0)
    return "".join(f"{int(part):016x}" for part in sums)


def _same_content(subject: Subject) -> Verdict:
    if not subject.history:
        return True, "no earlier partition to compare with"
    rows = height(subject.frame)
    candidates = [(day, frame) for day, frame in subject.history if height(frame) == rows]  # else they differ
    digest = content_hash(subject.spec, subject.frame) if candidates else ""
    same = [day for day, frame in candidates if content_hash(subject.spec, frame) == digest]
    return not same, (f"the same values as {same} (digest {digest[16:28]}, stamps aside): a file published twice?"
                      if same else f"values differ from {_compared(subject)}")


#: Every check, in the order they run and are listed.
CHECKS: tuple[Check, ...] = (
    Check("not_empty", "The partition has at least one row.", _not_empty),
    Check("schema", "Columns and types are exactly as declared.", _schema),
    Check("unknown_columns", "The vendor sent no column the schema does not know (such columns are not curated).",
          _unknown_columns, severity="warn"),
    Check("no_null_keys", "Key columns are never null.", _no_null_keys),
    Check("no_duplicate_keys", "No two rows share a key.", _no_duplicate_keys),
    Check("finite_values", "No NaN or infinite value in a floating-point column.", _finite),
    Check("positive_prices", "open, close, high and low are > 0.", _bounded(lambda spec: PRICES, 0.0, strict=True),
          applies_to=lambda spec: spec.ohlc, datasets="datasets with OHLC prices (`ohlc=True`)"),
    Check("non_negative_counts", "Count columns (volume, transactions) are >= 0.",
          _bounded(lambda spec: spec.count_columns, 0.0, strict=False),
          applies_to=lambda spec: bool(spec.count_columns), datasets="datasets with `count_columns`"),
    Check("ohlc_consistent", "low <= open, close <= high on every row.", _ohlc,
          applies_to=lambda spec: spec.ohlc, datasets="datasets with OHLC prices (`ohlc=True`)"),
    Check("hours_per_day", "Every node has one row per hour of the local day: 23, 24 or 25 across daylight saving.",
          _hours_per, applies_to=lambda spec: spec.hourly_per is not None,
          datasets="hourly datasets (`hourly_per`)"),
    Check("rows_in_partition", "Every row's date equals the partition's date.", _rows_in_partition),
    Check("row_count_usual", "The row count is within 0.5x..2x of the median of the earlier days compared "
          "(a truncated file).", _row_count, severity="warn"),
    Check("close_moves", "No ticker closed more than `jump_factor` (5x) away from its previous curated close "
          "(a missed split).", _close_moves, applies_to=lambda spec: spec.ohlc, severity="warn",
          datasets="datasets with OHLC prices (`ohlc=True`)"),
    Check("same_content", "The values (stamps aside) differ from every earlier day compared (a file published "
          "twice).", _same_content, severity="warn"),
)


def checks_for(spec: DatasetSpec) -> list[Check]:
    """Return the checks that apply to ``spec``, in registry order."""
    return [check for check in CHECKS if check.applies_to(spec)]


def check_partition(subject: Subject) -> list[CheckOutcome]:
    """Run every check that applies to the subject's dataset on one partition."""
    return [check.outcome(subject) for check in checks_for(subject.spec)]
