"""The checks a curated partition must pass, each declared once: name, severity, description, datasets, function.

Curation runs them before it writes. A partition that fails an ``error`` check is never written, so
the last good curated partition stays as it was; a ``warn`` check (schema drift, comparisons with
earlier days) is reported and the partition written. The curated asset declares one Dagster check
spec per entry, blocking for errors; the README's table lists them. No Dagster here.
"""

from __future__ import annotations

import hashlib
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


@dataclass(frozen=True)
class Subject:
    """What the checks look at: one partition's rows (with their ``date`` column), the vendor's columns the
    schema does not know, and earlier curated partitions (newest last, at most a few)."""

    spec: DatasetSpec
    day: date
    frame: pl.DataFrame
    extra_columns: tuple[str, ...] = ()
    history: Sequence[tuple[date, pl.DataFrame]] = ()


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


def _examples(subject: Subject, rows: pl.DataFrame, columns: Sequence[str]) -> str:
    """A few offending rows, by their key columns and the given columns: ``ticker=AAA open=nan``."""
    shown = [*subject.spec.key_columns, *(c for c in columns if c not in subject.spec.key_columns)]
    return "; ".join(" ".join(f"{name}={row[name]}" for name in shown) for row in rows.head(EXAMPLES).to_dicts())


def _not_empty(subject: Subject) -> Verdict:
    return subject.frame.height > 0, f"{subject.frame.height} rows"


def _schema(subject: Subject) -> Verdict:
    expected = {**subject.spec.schema, "date": pl.Date()}
    actual = dict(subject.frame.schema)
    wrong = {name: str(actual.get(name)) for name, dtype in expected.items() if actual.get(name) != dtype}
    return not wrong, f"mismatched columns: {wrong}" if wrong else "as declared"


def _unknown_columns(subject: Subject) -> Verdict:
    extra = list(subject.extra_columns)
    return not extra, (f"the vendor sent {len(extra)} column(s) the schema does not know, not curated: {extra}"
                       if extra else "no unknown columns")


def _no_null_keys(subject: Subject) -> Verdict:
    frame = subject.frame
    nulls = {column: frame[column].null_count() for column in subject.spec.key_columns if frame[column].null_count()}
    return not nulls, f"null keys: {nulls}" if nulls else "no null keys"


def _no_duplicate_keys(subject: Subject) -> Verdict:
    keys = list(subject.spec.key_columns)
    duplicated = subject.frame.filter(pl.struct(keys).is_duplicated())
    return duplicated.height == 0, (f"{duplicated.height} rows share a key {tuple(keys)}, e.g. "
                                    f"{_examples(subject, duplicated, [])}" if duplicated.height else "every key once")


def _finite(subject: Subject) -> Verdict:
    floats = [name for name, dtype in subject.spec.schema.items() if dtype.is_float()]
    bad = {name: subject.frame.filter(~pl.col(name).is_finite()) for name in floats}
    bad = {name: rows for name, rows in bad.items() if rows.height}
    return not bad, ("; ".join(f"{name}: {rows.height} NaN or infinite value(s), e.g. "
                               f"{_examples(subject, rows, [name])}" for name, rows in bad.items())
                     if bad else f"every value of {floats} finite")


def _bounded(columns: Callable[[DatasetSpec], Sequence[str]], minimum: float, strict: bool) -> Callable[
        [Subject], Verdict]:
    """A check that every value of ``columns`` is above ``minimum`` (``strict``) or at least it."""
    def run(subject: Subject) -> Verdict:
        names = list(columns(subject.spec))
        bad = {name: subject.frame.filter((pl.col(name) <= minimum) if strict else (pl.col(name) < minimum))
               for name in names}
        bad = {name: rows for name, rows in bad.items() if rows.height}
        relation = ">" if strict else ">="
        return not bad, ("; ".join(f"{name}: {rows.height} value(s) not {relation} {minimum:g}, e.g. "
                                   f"{_examples(subject, rows, [name])}" for name, rows in bad.items())
                         if bad else f"{names} all {relation} {minimum:g}")
    return run


def _ohlc(subject: Subject) -> Verdict:
    bad = subject.frame.filter(
        (pl.col("low") > pl.min_horizontal("open", "close")) | (pl.col("high") < pl.max_horizontal("open", "close"))
    )
    return bad.height == 0, (f"{bad.height} rows with low > open/close or high < open/close, e.g. "
                             f"{_examples(subject, bad, PRICES)}" if bad.height
                             else "low <= open, close <= high on every row")


def _rows_in_partition(subject: Subject) -> Verdict:
    frame, day = subject.frame, subject.day
    outside = frame.filter(pl.col("date") != day)
    detail = (f"{outside.height} rows dated {sorted(set(outside['date'].to_list()))[:5]}, not {day}"
              if outside.height else f"every row dated {day}")
    return outside.height == 0, detail


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
    counts = subject.frame.group_by(column).len().filter(pl.col("len") != expected).sort(column)
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
    median = float(pl.Series([frame.height for _, frame in subject.history]).median() or 0)
    rows = subject.frame.height
    far = not median / ROW_COUNT_FACTOR <= rows <= median * ROW_COUNT_FACTOR
    return not far, (f"{rows} rows against a median of {median:g} over {_compared(subject)}"
                     + (f": outside {1 / ROW_COUNT_FACTOR:g}x..{ROW_COUNT_FACTOR:g}x (a truncated file?)" if far
                        else ""))


def _close_moves(subject: Subject) -> Verdict:
    if not subject.history:
        return True, "no earlier partition to compare with"
    before, previous = subject.history[-1]
    factor = subject.spec.jump_factor
    joined = subject.frame.select("ticker", "close").join(
        previous.select("ticker", pl.col("close").alias("previous_close")), on="ticker")
    moved = joined.filter((pl.col("close") / pl.col("previous_close") > factor)
                          | (pl.col("previous_close") / pl.col("close") > factor))
    share = moved.height / joined.height if joined.height else 0.0
    shown = ", ".join(f"{row['ticker']} {row['previous_close']:g} -> {row['close']:g}"
                      for row in moved.head(EXAMPLES).to_dicts())
    return moved.height == 0, (f"{moved.height} of {joined.height} tickers ({share:.1%}) closed more than "
                               f"{factor:g}x away from their {before} close, e.g. {shown}" if moved.height
                               else f"no close moved more than {factor:g}x from {before} ({joined.height} tickers)")


def content_hash(spec: DatasetSpec, frame: pl.DataFrame) -> str:
    """A digest of the partition's values, its date and time stamps left out, independent of row order."""
    values = [name for name in spec.schema if name not in spec.stamp_columns]
    rows = frame.select(values).sort(values)
    return hashlib.sha256(rows.write_csv().encode()).hexdigest()


def _same_content(subject: Subject) -> Verdict:
    if not subject.history:
        return True, "no earlier partition to compare with"
    digest = content_hash(subject.spec, subject.frame)
    same = [day for day, frame in subject.history if content_hash(subject.spec, frame) == digest]
    return not same, (f"the same values as {same} (sha256 {digest[:12]}, stamps aside): a file published twice?"
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
