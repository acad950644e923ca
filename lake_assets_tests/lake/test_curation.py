"""Parsing vendor CSVs into typed frames and the partition checks, on generated files (no S3)."""

from __future__ import annotations

import gzip
from dataclasses import replace
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from lake_assets.cli.sample import day_aggs_frame, gzip_csv, nodal_frame, vendor_file
from lake_assets.lake.checks import CHECKS, check_partition
from lake_assets.lake.curation import CurationError, parse_vendor_file
from lake_assets.lake.datasets import DAY_AGGS, NODAL_PRICES

DAY = date(2024, 1, 2)


def outcomes(frame: pl.DataFrame, spec=DAY_AGGS) -> dict[str, bool]:
    return {o.name: o.passed for o in check_partition(spec, frame, DAY)}


@pytest.mark.parametrize("spec", [DAY_AGGS, NODAL_PRICES])
def test_generated_vendor_files_parse_and_pass_every_check(spec) -> None:
    frame = parse_vendor_file(spec, vendor_file(spec, DAY), "where")
    assert frame.columns == [*spec.schema, "date"]
    assert all(outcomes(frame, spec).values())


def test_extra_vendor_columns_are_dropped() -> None:
    drifted = day_aggs_frame(DAY).with_columns(pl.lit("x").alias("vwap_note"))
    frame = parse_vendor_file(DAY_AGGS, gzip_csv(drifted), "where")
    assert "vwap_note" not in frame.columns and all(outcomes(frame).values())


def test_a_retyped_column_is_refused_with_the_place_named() -> None:
    retyped = day_aggs_frame(DAY).with_columns(pl.lit("n/a").alias("volume"))
    with pytest.raises(CurationError, match=r"^day_aggs 2024-01-02 s3://v/k: a value does not fit"):
        parse_vendor_file(DAY_AGGS, gzip_csv(retyped), "day_aggs 2024-01-02 s3://v/k")


def test_null_keys_and_wrong_dates_fail_their_checks() -> None:
    frame = parse_vendor_file(DAY_AGGS, vendor_file(DAY_AGGS, DAY), "where")
    with_null = frame.with_columns(pl.when(pl.col("ticker") == frame["ticker"][0]).then(None)
                                   .otherwise(pl.col("ticker")).alias("ticker"))
    assert outcomes(with_null) == {"not_empty": True, "schema": True, "no_null_keys": False,
                                   "no_duplicate_keys": True, "rows_in_partition": True, "ohlc_consistent": True}
    assert outcomes(frame.with_columns(pl.lit(date(2024, 1, 3)).alias("date")))["rows_in_partition"] is False


def test_a_header_only_file_fails_not_empty() -> None:
    header_only = gzip.compress(",".join(NODAL_PRICES.schema).encode() + b"\n")
    frame = parse_vendor_file(NODAL_PRICES, header_only, "where")
    assert outcomes(frame, NODAL_PRICES)["not_empty"] is False
    assert nodal_frame(DAY).height == 40 * 24


def test_the_readme_lists_every_registered_check_as_declared() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = {line for line in readme.splitlines() if line.startswith("| `")}
    for check in CHECKS:
        assert f"| `{check.name}` | {check.datasets} | {check.description} |" in rows, check.name


def test_checks_follow_the_registry_for_each_dataset() -> None:
    frame = parse_vendor_file(NODAL_PRICES, vendor_file(NODAL_PRICES, DAY), "nodal")
    assert [o.name for o in check_partition(NODAL_PRICES, frame, DAY)] == [
        check.name for check in CHECKS if check.name != "ohlc_consistent"]


def test_a_dataset_without_a_sample_generator_is_refused_by_name() -> None:
    with pytest.raises(KeyError, match="no sample generator for dataset 'new_feed'"):
        vendor_file(replace(NODAL_PRICES, name="new_feed"), DAY)
