"""Partition keys, Hive lake keys and vendor key templates, both ways: real dates only, never a wrong date."""

from __future__ import annotations

from datetime import date

import pytest

from lake_assets.lake.layout import (
    HiveLayout,
    KeyTemplate,
    LayoutError,
    partition_date,
    partition_key,
)


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
