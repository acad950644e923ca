"""Hive ``year=/month=/day=`` parsing and formatting: real dates only, zero-padded, never a wrong date."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from lake_assets.layout import (
    HiveLayout,
    KeyTemplate,
    LayoutError,
    extract_date_from_hive_path,
    hive_date_path,
    partition_date,
    partition_key,
)


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


@pytest.mark.parametrize("key", ["2024-1-02", "2024-01-32", "20240102", "2024-02-30", " 2024-01-02", ""])
def test_malformed_partition_keys_are_refused(key: str) -> None:
    with pytest.raises(LayoutError):
        partition_date(key)


def test_hive_layout_round_trips_and_refuses_keys_outside_it() -> None:
    layout = HiveLayout("curated/dataset=x", "data.parquet")
    day = date(2024, 2, 29)
    assert layout.key(day) == "curated/dataset=x/year=2024/month=02/day=29/data.parquet"
    assert layout.date_of(layout.key(day)) == day == partition_date(partition_key(day))
    for key in ["raw/dataset=x/year=2024/month=02/day=29/data.parquet",
                "curated/dataset=x/year=2024/month=02/day=30/data.parquet",
                "curated/dataset=x/year=2024/month=2/day=29/data.parquet",
                "curated/dataset=x/year=2024/month=02/day=29/other.parquet",
                "curated/dataset=xy/year=2024/month=02/day=29/data.parquet"]:
        with pytest.raises(LayoutError):
            layout.date_of(key)


@pytest.mark.parametrize("template", ["a/{yyyy}/{mm}/{date}.csv.gz", "e/{yyyy}/x_{yyyymmdd}.csv", "d/{yyyy}-{mm}-{dd}"])
def test_vendor_templates_round_trip(template: str) -> None:
    layout = KeyTemplate(template)
    for day in (date(2024, 1, 2), date(2025, 12, 31)):
        assert layout.date_of(layout.key(day)) == day
    assert sorted(layout.key(d) for d in (date(2024, 10, 1), date(2024, 9, 30))) == [
        layout.key(date(2024, 9, 30)), layout.key(date(2024, 10, 1))]


def test_vendor_keys_that_disagree_or_do_not_fit_are_refused() -> None:
    layout = KeyTemplate("s/{yyyy}/{mm}/{date}.csv.gz")
    for key in ["s/2024/02/2024-01-02.csv.gz", "s/2024/02/2024-02-30.csv.gz", "s/2024/02/2024-02-01.csv",
                "other/2024/02/2024-02-01.csv.gz"]:
        with pytest.raises(LayoutError):
            layout.date_of(key)
    with pytest.raises(ValueError):
        KeyTemplate("s/{yyyy}/{mm}.csv")
    with pytest.raises(ValueError):
        KeyTemplate("s/{year}.csv")
