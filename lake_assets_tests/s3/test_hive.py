"""Hive ``year=/month=/day=`` parsing and formatting: real dates only, zero-padded, never a wrong date."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from lake_assets.s3 import extract_date_from_hive_path
from lake_assets.s3.hive import hive_date_path


@pytest.mark.parametrize(("path", "expected"), [
    ("iso=spp/dataset=nodal/year=2026/month=01/day=15/data.parquet", datetime(2026, 1, 15)),
    ("year=2024/month=02/day=29/x.csv", datetime(2024, 2, 29)),
    ("a/year=1999/month=12/day=31", datetime(1999, 12, 31)),
])
def test_extracts_the_date(path: str, expected: datetime) -> None:
    assert extract_date_from_hive_path(path) == expected


@pytest.mark.parametrize("path", [
    "some/other/path.csv",
    "year=2023/month=02/day=29/x",          # not a leap year
    "year=2024/month=13/day=01/x",          # no month 13
    "year=2024/month=1/day=01/x",           # not zero-padded: key order would not be date order
    "year=2024/month=01/day=1/x",
    "xyear=2024/month=01/day=01/x",         # not a whole path segment
    "year=2024/month=01/day=011/x",
])
def test_rejects_what_is_not_a_real_padded_date(path: str) -> None:
    assert extract_date_from_hive_path(path) is None


def test_formats_zero_padded_and_round_trips() -> None:
    day = date(2024, 3, 5)
    assert hive_date_path(day) == "year=2024/month=03/day=05"
    assert extract_date_from_hive_path(hive_date_path(day) + "/f").date() == day


def test_key_order_is_date_order() -> None:
    days = [date(2023, 12, 31), date(2024, 1, 2), date(2024, 1, 10), date(2024, 10, 1)]
    assert sorted(hive_date_path(d) for d in days) == [hive_date_path(d) for d in days]
