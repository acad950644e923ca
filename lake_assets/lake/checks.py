"""The checks a curated partition must pass, each declared once: name, severity, description, datasets, function.

Curation runs them before it writes. A partition that fails an ``error`` check is never written, so
the last good curated partition stays as it was; a ``warn`` check (schema drift, comparisons with
earlier days) is reported and the partition written. Each check belongs to a :class:`Concern`, which
fixes its severity; the curated asset declares one Dagster check per concern (blocking for errors),
whose result lists its checks' outcomes: a few results a day instead of one per check, each still
naming the check that failed. The README's table lists them. No Dagster here.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date

import polars as pl

from lake_assets.lake.calendars import closure, hours_in_day
from lake_assets.lake.check_types import CONCERNS, CONCERNS_BY_NAME, CheckOutcome, Concern, Severity, Subject, Verdict
from lake_assets.lake.conditions import (
    NEGATIVE,
    NOT_POSITIVE,
    PRICES,
    Conditions,
    inconsistent,
    non_finite,
    null_keys,
    outside,
)
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.queries import collect, content_hash, height, last_closes, tally

__all__ = ["CHECKS", "CONCERNS", "Check", "CheckOutcome", "Concern", "Subject", "check_partition", "checks_for",
           "concerns_for", "declared_tallies"]

#: Offending rows a check quotes.
EXAMPLES = 3
#: A row count outside [median / factor, median * factor] of the earlier days is "far from" it.
ROW_COUNT_FACTOR = 2.0


@dataclass(frozen=True)
class Check:
    """One data check: ``run(subject)`` judges a partition; ``tallies`` declares the aggregates it asks the subject
    for, which are counted for every check in one pass over the rows (the parse's, or :func:`check_partition`'s).
    Its ``concern`` (a name in :data:`CONCERNS`) fixes its severity."""

    name: str
    description: str
    run: Callable[[Subject], Verdict]
    concern: str
    applies_to: Callable[[DatasetSpec], bool] = lambda spec: True
    datasets: str = "all"
    tallies: Callable[[DatasetSpec, date], list[pl.Expr]] = lambda spec, day: []

    @property
    def severity(self) -> Severity:
        """The severity of the check's concern."""
        return CONCERNS_BY_NAME[self.concern].severity

    def outcome(self, subject: Subject) -> CheckOutcome:
        """Run the check and name its result."""
        passed, detail = self.run(subject)
        return CheckOutcome(self.name, passed, detail, self.severity, self.concern)


def _sums(conditions: Conditions) -> Callable[[DatasetSpec, date], list[pl.Expr]]:
    """The aggregates counting the rows that meet each of ``conditions``: what a counting check tallies."""
    return lambda spec, day: [condition.sum() for condition in conditions(spec, day).values()]


def _counts(subject: Subject, conditions: dict[str, pl.Expr]) -> dict[str, int]:
    """How many rows meet each condition; only the conditions some row meets."""
    counts = subject.aggregate(*(condition.sum() for condition in conditions.values()))
    return {name: int(count) for name, count in zip(conditions, counts) if count}


def _examples(subject: Subject, condition: pl.Expr, columns: Sequence[str]) -> str:
    """A few rows meeting ``condition``, by their key columns and the given columns: ``ticker=AAA open=nan``."""
    shown = [*subject.spec.key_columns, *(c for c in columns if c not in subject.spec.key_columns)]
    rows = collect(subject.rows.filter(condition).select(shown).head(EXAMPLES))
    return "; ".join(" ".join(f"{name}={row[name]}" for name in shown) for row in rows.to_dicts())


def _not_empty(subject: Subject) -> Verdict:
    rows, = subject.aggregate(pl.len())
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
    nulls = _counts(subject, null_keys(subject.spec, subject.day))
    return not nulls, f"null keys: {nulls}" if nulls else "no null keys"


def _distinct_keys(spec: DatasetSpec, day: date) -> list[pl.Expr]:
    return [pl.len(), pl.struct(list(spec.key_columns)).hash(0).n_unique()]


def _no_duplicate_keys(subject: Subject) -> Verdict:
    keys = list(subject.spec.key_columns)
    rows, distinct = subject.aggregate(*_distinct_keys(subject.spec, subject.day))
    if rows == distinct:  # distinct hashes: distinct keys
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
    conditions = non_finite(subject.spec, subject.day)
    passed, detail = _bad_values(subject, conditions, "NaN or infinite value(s)")
    return passed, detail or f"every value of {list(conditions)} finite"


def _bounded(below: Conditions, minimum: float, strict: bool) -> Callable[[Subject], Verdict]:
    """A check that no value meets ``below``: every value is above ``minimum`` (``strict``) or at least it."""
    def run(subject: Subject) -> Verdict:
        conditions, relation = below(subject.spec, subject.day), ">" if strict else ">="
        passed, detail = _bad_values(subject, conditions, f"value(s) not {relation} {minimum:g}")
        return passed, detail or f"{list(conditions)} all {relation} {minimum:g}"
    return run


def _ohlc(subject: Subject) -> Verdict:
    condition = inconsistent(subject.spec, subject.day)["rows"]
    bad = _counts(subject, {"rows": condition}).get("rows", 0)
    shown = _examples(subject, condition, PRICES) if bad else ""
    return not bad, (f"{bad} rows with low > open/close or high < open/close, e.g. {shown}" if bad
                     else "low <= open, close <= high on every row")


def _rows_in_partition(subject: Subject) -> Verdict:
    condition, day = outside(subject.spec, subject.day)["rows"], subject.day
    count = _counts(subject, {"rows": condition}).get("rows", 0)
    dates = (collect(subject.rows.filter(condition).select(pl.col("date").unique().sort().head(5)))["date"].to_list()
             if count else [])
    return count == 0, f"{count} rows dated {dates}, not {day}" if count else f"every row dated {day}"


def _hours_per(subject: Subject) -> Verdict:
    column = subject.spec.hourly_per or ""
    expected = hours_in_day(subject.day, subject.spec.timezone)
    counts = collect(subject.rows.group_by(column).len().filter(pl.col("len") != expected).sort(column))
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


def _close_moves(subject: Subject) -> Verdict:
    if not subject.history:
        return True, "no earlier partition to compare with"
    before, previous = subject.history[-1]
    factor = subject.spec.jump_factor
    joined = collect(last_closes(subject.spec, subject.frame).join(
        last_closes(subject.spec, previous).select("ticker", pl.col("close").alias("previous_close")), on="ticker"))
    moved = joined.filter((pl.col("close") / pl.col("previous_close") > factor)
                          | (pl.col("previous_close") / pl.col("close") > factor)).sort("ticker")
    share = moved.height / joined.height if joined.height else 0.0
    shown = ", ".join(f"{row['ticker']} {row['previous_close']:g} -> {row['close']:g}"
                      for row in moved.head(EXAMPLES).to_dicts())
    return moved.height == 0, (f"{moved.height} of {joined.height} tickers ({share:.1%}) closed more than "
                               f"{factor:g}x away from their {before} close, e.g. {shown}" if moved.height
                               else f"no close moved more than {factor:g}x from {before} ({joined.height} tickers)")


def _same_content(subject: Subject) -> Verdict:
    if not subject.history:
        return True, "no earlier partition to compare with"
    rows = height(subject.frame)
    candidates = [(day, frame) for day, frame in subject.history if height(frame) == rows]  # else they differ
    digest = content_hash(subject.spec, subject.frame) if candidates else ""
    same = [day for day, frame in candidates if content_hash(subject.spec, frame) == digest]
    return not same, (f"the same values as {same} (digest {digest[16:28]}, stamps aside): a file published twice?"
                      if same else f"values differ from {_compared(subject)}")


def _open_day(subject: Subject) -> Verdict:
    calendar, day = subject.spec.calendar, subject.day
    name = closure(calendar, day)
    return name is None, (f"the {calendar} calendar closes {day} ({name}), but the vendor published a file: "
                          f"curated; the calendar may be wrong" if name else f"the {calendar} calendar opens {day}")


#: Every check, in the order they run and are listed.
CHECKS: tuple[Check, ...] = (
    Check("not_empty", "The partition has at least one row.", _not_empty, "structure",
          tallies=lambda spec, day: [pl.len()]),
    Check("schema", "Columns and types are exactly as declared.", _schema, "structure"),
    Check("no_null_keys", "Key columns are never null.", _no_null_keys, "structure", tallies=_sums(null_keys)),
    Check("no_duplicate_keys", "No two rows share a key.", _no_duplicate_keys, "structure", tallies=_distinct_keys),
    Check("rows_in_partition", "Every row's date equals the partition's date.", _rows_in_partition, "structure",
          tallies=_sums(outside)),
    Check("finite_values", "No NaN or infinite value in a floating-point column.", _finite, "values",
          tallies=_sums(non_finite)),
    Check("positive_prices", "open, close, high and low are > 0.", _bounded(NOT_POSITIVE, 0.0, strict=True),
          "values", applies_to=lambda spec: spec.ohlc, datasets="datasets with OHLC prices (`ohlc=True`)",
          tallies=_sums(NOT_POSITIVE)),
    Check("non_negative_counts", "Count columns (volume, transactions) are >= 0.",
          _bounded(NEGATIVE, 0.0, strict=False), "values", applies_to=lambda spec: bool(spec.count_columns),
          datasets="datasets with `count_columns`", tallies=_sums(NEGATIVE)),
    Check("ohlc_consistent", "low <= open, close <= high on every row.", _ohlc, "values",
          applies_to=lambda spec: spec.ohlc, datasets="datasets with OHLC prices (`ohlc=True`)",
          tallies=_sums(inconsistent)),
    Check("hours_per_day", "Every node has one row per hour of the local day: 23, 24 or 25 across daylight saving.",
          _hours_per, "values", applies_to=lambda spec: spec.hourly_per is not None,
          datasets="hourly datasets (`hourly_per`)"),
    Check("unknown_columns", "The vendor sent no column the schema does not know (such columns are not curated).",
          _unknown_columns, "drift"),
    Check("row_count_usual", "The row count is within 0.5x..2x of the median of the earlier days compared "
          "(a truncated file).", _row_count, "drift"),
    Check("close_moves", "No ticker closed more than `jump_factor` (5x) away from its previous curated close "
          "(a missed split).", _close_moves, "drift", applies_to=lambda spec: spec.ohlc,
          datasets="datasets with OHLC prices (`ohlc=True`)"),
    Check("same_content", "The values (stamps aside) differ from every earlier day compared (a file published "
          "twice).", _same_content, "drift"),
    Check("open_day", "The calendar opens the day: a file the vendor published on a day it closes (a holiday) is "
          "curated, with this warning that the calendar may be wrong.", _open_day, "drift"),
)


def checks_for(spec: DatasetSpec) -> list[Check]:
    """Return the checks that apply to ``spec``, in registry order."""
    return [check for check in CHECKS if check.applies_to(spec)]


def concerns_for(spec: DatasetSpec) -> list[Concern]:
    """Return the concerns with at least one check that applies to ``spec``, in order."""
    names = {check.concern for check in checks_for(spec)}
    return [concern for concern in CONCERNS if concern.name in names]


def declared_tallies(spec: DatasetSpec, day: date) -> list[pl.Expr]:
    """Every aggregate the checks that apply to ``spec`` declare for ``day``: counted while parsing, they cost
    no pass over the rows of their own."""
    return [aggregate for check in checks_for(spec) for aggregate in check.tallies(spec, day)]


def check_partition(subject: Subject) -> list[CheckOutcome]:
    """Run every check that applies to the subject's dataset on one partition, the declared aggregates not in
    ``subject.tallies`` computed first in one pass over the rows (a partition of hundreds of MB is read once)."""
    missing = [a for a in declared_tallies(subject.spec, subject.day) if str(a) not in subject.tallies]
    subject = replace(subject, tallies={**subject.tallies, **tally(subject.rows, missing)})
    return [check.outcome(subject) for check in checks_for(subject.spec)]
