"""Parsing vendor CSVs into typed frames and the partition checks, on generated files (no S3)."""

from __future__ import annotations

import errno
import gzip
import tempfile
from dataclasses import replace
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from lake_assets.cli.sample import day_aggs_frame, gzip_csv, nodal_frame, publish_sample, unsampled, vendor_file
from lake_assets.lake.checks import CHECKS, Subject, check_partition, declared_tallies, hours_in_day
from lake_assets.lake.curation import CurationError, parse_vendor_file
from lake_assets.lake.datasets import DAY_AGGS, NODAL_PRICES
from lake_assets.lake.layout import KeyTemplate
from lake_assets.lake.queries import tally
from lake_assets.s3 import S3Handler, S3TransferConfig
from lake_assets_tests.conftest import MOTO_BUCKET

DAY = date(2024, 1, 2)


def outcomes(frame: pl.DataFrame, spec=DAY_AGGS, day: date = DAY) -> dict[str, bool]:
    return {o.name: o.passed for o in check_partition(Subject(spec, day, frame))}


def parse(spec, data: bytes, where: str = "where") -> tuple[pl.DataFrame, tuple[str, ...]]:
    """Parse vendor bytes as curation parses a downloaded file; return the rows and the unknown columns."""
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "data.csv.gz"
        source.write_bytes(data)
        vendor = parse_vendor_file(spec, source, Path(work) / "data.parquet", where)
        return pl.read_parquet(vendor.path), vendor.extra_columns


def parsed(spec=DAY_AGGS, day: date = DAY) -> pl.DataFrame:
    return parse(spec, vendor_file(spec, day))[0]


@pytest.mark.parametrize("spec", [DAY_AGGS, NODAL_PRICES])
def test_generated_vendor_files_parse_and_pass_every_check(spec) -> None:
    frame = parsed(spec)
    assert frame.columns == [*spec.schema, "date"]
    assert all(outcomes(frame, spec).values())


def test_extra_vendor_columns_are_not_curated_and_reported_by_name() -> None:
    drifted = day_aggs_frame(DAY).with_columns(pl.lit("x").alias("vwap_note"))
    frame, extra = parse(DAY_AGGS, gzip_csv(drifted))
    assert "vwap_note" not in frame.columns and extra == ("vwap_note",)
    unknown = next(o for o in check_partition(Subject(DAY_AGGS, DAY, frame, extra))
                   if o.name == "unknown_columns")
    assert (unknown.passed, unknown.severity, unknown.blocks) == (False, "warn", False)
    assert "['vwap_note']" in unknown.detail


def test_a_retyped_column_is_refused_with_the_place_named() -> None:
    retyped = day_aggs_frame(DAY).with_columns(pl.lit("n/a").alias("volume"))
    with pytest.raises(CurationError, match=r"^day_aggs 2024-01-02 s3://v/k: a value does not fit"):
        parse(DAY_AGGS, gzip_csv(retyped), "day_aggs 2024-01-02 s3://v/k")


def test_null_keys_and_wrong_dates_fail_their_checks() -> None:
    frame = parsed()
    with_null = frame.with_columns(pl.when(pl.col("ticker") == frame["ticker"][0]).then(None)
                                   .otherwise(pl.col("ticker")).alias("ticker"))
    assert {name for name, ok in outcomes(with_null).items() if not ok} == {"no_null_keys"}
    assert outcomes(frame.with_columns(pl.lit(date(2024, 1, 3)).alias("date")))["rows_in_partition"] is False


def failures(frame: pl.DataFrame, spec=DAY_AGGS, day: date = DAY, **subject: object) -> dict[str, str]:
    """The checks ``frame`` fails, with their details."""
    return {o.name: o.detail for o in check_partition(Subject(spec, day, frame, **subject)) if not o.passed}


def first(frame: pl.DataFrame, column: str, value: object) -> pl.DataFrame:
    """``frame`` with ``column`` set to ``value`` on its first row."""
    return frame.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(value)).otherwise(pl.col(column))
                              .cast(frame.schema[column]).alias(column))


@pytest.mark.parametrize("column, value, check, shown", [
    ("open", float("nan"), "finite_values", "open=nan"),
    ("close", float("inf"), "finite_values", "close=inf"),
    ("low", 0.0, "positive_prices", "low=0.0"),
    ("volume", -100, "non_negative_counts", "volume=-100"),
    ("transactions", -1, "non_negative_counts", "transactions=-1"),
])
def test_bad_values_fail_a_blocking_check_naming_the_column_and_an_example(column, value, check, shown) -> None:
    frame = parsed()
    failed = failures(first(frame, column, value))
    assert check in failed and f"{column}:" in failed[check]
    assert f"ticker={frame['ticker'][0]}" in failed[check] and shown in failed[check]
    assert next(c for c in CHECKS if c.name == check).severity == "error"


def test_a_vendor_file_written_with_nan_parses_to_nan_and_is_refused() -> None:
    text = gzip.decompress(vendor_file(DAY_AGGS, DAY)).decode().splitlines()
    cells = text[1].split(",")
    cells[list(DAY_AGGS.schema).index("open")] = "NaN"
    frame = parse(DAY_AGGS, gzip.compress("\n".join([text[0], ",".join(cells), *text[2:]]).encode()))[0]
    assert "finite_values" in failures(frame)


@pytest.mark.parametrize("day, hours", [(date(2024, 3, 10), 23), (date(2024, 11, 3), 25), (DAY, 24)])
def test_hourly_prices_have_one_row_per_hour_of_the_local_day(day: date, hours: int) -> None:
    assert hours_in_day(day, NODAL_PRICES.timezone) == hours
    frame = parsed(NODAL_PRICES, day)
    assert frame.height == 40 * hours and not failures(frame, NODAL_PRICES, day)
    last_hour = pl.col("interval_start") == frame["interval_start"].max()
    short = frame.filter(~((pl.col("node") == "SPP_NODE_007") & last_hour))
    assert f"SPP_NODE_007={hours - 1}" in failures(short, NODAL_PRICES, day)["hours_per_day"]


def test_a_header_only_file_fails_not_empty() -> None:
    header_only = gzip.compress(",".join(NODAL_PRICES.schema).encode() + b"\n")
    frame = parse(NODAL_PRICES, header_only)[0]
    assert outcomes(frame, NODAL_PRICES)["not_empty"] is False
    assert nodal_frame(DAY).height == 40 * 24


def test_the_readme_lists_every_registered_check_as_declared() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = {line for line in readme.splitlines() if line.startswith("| `")}
    for check in CHECKS:
        assert f"| `{check.concern}` | `{check.name}` | {check.severity} | {check.datasets} | {check.description} |" \
            in rows, check.name


def test_checks_follow_the_registry_for_each_dataset() -> None:
    assert [o.name for o in check_partition(Subject(NODAL_PRICES, DAY, parsed(NODAL_PRICES)))] == [
        check.name for check in CHECKS if check.name not in ("positive_prices", "non_negative_counts",
                                                             "ohlc_consistent", "close_moves")]


def test_a_dataset_without_a_sample_generator_is_refused_by_name() -> None:
    with pytest.raises(KeyError, match="no sample generator for dataset 'new_feed'"):
        vendor_file(replace(NODAL_PRICES, name="new_feed"), DAY)


def test_the_sample_skips_a_dataset_without_a_generator_and_publishes_the_others(
        moto_config: S3TransferConfig) -> None:
    new_feed = replace(NODAL_PRICES, name="new_feed", source=KeyTemplate("new/{date}.csv.gz"))
    assert unsampled([DAY_AGGS, new_feed]) == ["new_feed"]
    with S3Handler(moto_config) as vendor:
        assert publish_sample(vendor, MOTO_BUCKET, [new_feed, DAY_AGGS], DAY, DAY) == 1
        assert [info.key for info in vendor.iter_objects(MOTO_BUCKET)] == [DAY_AGGS.source.key(DAY)]


EARLIER = [date(2024, 1, d) for d in (2, 3, 4, 5, 8)]
TODAY = date(2024, 1, 9)


def history() -> list[tuple[date, pl.DataFrame]]:
    return [(day, parsed(DAY_AGGS, day)) for day in EARLIER]


def test_a_usual_day_passes_the_checks_against_history() -> None:
    assert not failures(parsed(DAY_AGGS, TODAY), day=TODAY, history=history())


def test_a_truncated_file_warns_with_what_it_was_compared_with() -> None:
    truncated = parsed(DAY_AGGS, TODAY).head(33)
    detail = failures(truncated, day=TODAY, history=history())
    assert set(detail) == {"row_count_usual"}
    assert detail["row_count_usual"].startswith("33 rows against a median of 100 over 2024-01-02..2024-01-08 (5 day")


def test_a_missed_split_warns_naming_the_ticker_and_both_closes() -> None:
    today = parsed(DAY_AGGS, TODAY)
    ticker = today["ticker"][0]
    jumped = today.with_columns([pl.when(pl.col("ticker") == ticker).then(pl.col(c) * 50).otherwise(pl.col(c)).alias(c)
                                 for c in ("open", "close", "high", "low")])
    detail = failures(jumped, day=TODAY, history=history())
    assert set(detail) == {"close_moves"}
    assert detail["close_moves"].startswith(f"1 of 100 tickers (1.0%) closed more than 5x away from their "
                                            f"2024-01-08 close, e.g. {ticker} ")


def test_the_same_file_under_another_date_warns_naming_the_day() -> None:
    copy = parsed(DAY_AGGS, EARLIER[2]).with_columns(  # 2024-01-04's values, re-stamped as today's
        pl.lit(parsed(DAY_AGGS, TODAY)["window_start"][0]).alias("window_start"), pl.lit(TODAY).alias("date"))
    detail = failures(copy, day=TODAY, history=history())
    assert set(detail) == {"same_content"} and "[datetime.date(2024, 1, 4)]" in detail["same_content"]


@pytest.mark.parametrize("data, message", [
    (vendor_file(DAY_AGGS, DAY)[:-100], "not valid gzip"),
    (gzip.decompress(vendor_file(DAY_AGGS, DAY)), "not valid gzip"),  # plain CSV: polars reads it, curation not
])
def test_a_truncated_or_plain_file_is_refused_and_leaves_no_parquet(tmp_path: Path, data: bytes, message: str) -> None:
    source, target = tmp_path / "data.csv.gz", tmp_path / "data.parquet"
    source.write_bytes(data)
    with pytest.raises(CurationError, match=message):
        parse_vendor_file(DAY_AGGS, source, target, "where")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data.csv.gz"]


def test_a_full_local_disk_is_a_transient_local_error_not_a_bad_vendor_file(tmp_path: Path) -> None:
    """A bad vendor file is given up until the vendor corrects it; a full temporary disk must be retried."""
    source, target = tmp_path / "data.csv.gz", tmp_path / "data.parquet"
    source.write_bytes(vendor_file(DAY_AGGS, DAY))
    (tmp_path / "data.parquet.partial").symlink_to("/dev/full")  # where the parse writes: "no space left"
    with pytest.raises(OSError) as raised:  # not CurationError (a ValueError)
        parse_vendor_file(DAY_AGGS, source, target, "where")
    assert raised.value.errno == errno.ENOSPC
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data.csv.gz"]


def test_the_checks_judge_a_lazy_scan_as_they_judge_a_frame(tmp_path: Path) -> None:
    frame = first(first(parsed(), "low", 0.0), "ticker", None)
    frame.write_parquet(tmp_path / "day.parquet")
    earlier = [(day, parsed(DAY_AGGS, day)) for day in EARLIER]
    lazy = [(day, rows.lazy()) for day, rows in earlier]
    assert failures(pl.scan_parquet(tmp_path / "day.parquet"), day=TODAY, history=lazy) == failures(
        frame, day=TODAY, history=earlier)


def test_duplicate_keys_are_counted_and_shown_from_a_scan(tmp_path: Path) -> None:
    frame = parsed()
    pl.concat([frame, frame.head(2)]).write_parquet(tmp_path / "day.parquet")
    detail = failures(pl.scan_parquet(tmp_path / "day.parquet"))["no_duplicate_keys"]
    assert detail.startswith("4 rows share a key ('ticker', 'window_start'), e.g. ticker=")


def test_the_row_checks_read_their_counts_from_the_one_shared_pass() -> None:
    bad = first(parsed(), "low", 0.0)
    tallied = {str(aggregate): 0 for check in CHECKS if check.applies_to(DAY_AGGS)
               for aggregate in check.tallies(DAY_AGGS, DAY)}
    assert len(tallied) >= 12  # rows, distinct keys, nulls, non-finite, prices, counts, OHLC, dates
    positive = next(check for check in CHECKS if check.name == "positive_prices")
    assert not positive.outcome(Subject(DAY_AGGS, DAY, bad)).passed  # counted on its own
    assert positive.outcome(Subject(DAY_AGGS, DAY, bad, tallies=tallied)).passed  # the shared pass's count is used


def test_the_parse_counts_what_the_checks_declare_and_check_partition_uses_it(tmp_path: Path) -> None:
    raw = day_aggs_frame(DAY)
    bad = pl.concat([first(first(raw, "low", 0.0), "volume", -5), raw.head(1)])  # a zero low, a count, a dup
    source, target = tmp_path / "data.csv.gz", tmp_path / "data.parquet"
    source.write_bytes(gzip_csv(bad))
    vendor = parse_vendor_file(DAY_AGGS, source, target, "where", declared_tallies(DAY_AGGS, DAY))
    assert vendor.tallies == tally(pl.scan_parquet(target), declared_tallies(DAY_AGGS, DAY))
    assert {0, 1, raw.height, raw.height + 1} <= set(vendor.tallies.values())
    subject = Subject(DAY_AGGS, DAY, vendor.scan(), tallies=vendor.tallies)
    assert check_partition(subject) == check_partition(replace(subject, tallies={}))
    told = {name: 0 for name in vendor.tallies} | {str(pl.len()): raw.height + 1}
    failed = [o.name for o in check_partition(replace(subject, tallies=told)) if not o.passed]
    assert "positive_prices" not in failed and "non_negative_counts" not in failed  # counts told are not recounted


def test_a_file_on_a_day_the_calendar_closes_only_warns_that_the_calendar_may_be_wrong() -> None:
    mlk = date(2024, 1, 15)
    failed = failures(parsed(DAY_AGGS, mlk), DAY_AGGS, mlk)
    assert list(failed) == ["open_day"]
    assert failed["open_day"].startswith("the nyse calendar closes 2024-01-15 (Martin Luther King Jr. Day), but the "
                                         "vendor published a file: curated")
    assert next(check for check in CHECKS if check.name == "open_day").severity == "warn"
    assert "open_day" not in failures(parsed(NODAL_PRICES, mlk), NODAL_PRICES, mlk)  # every day is open
