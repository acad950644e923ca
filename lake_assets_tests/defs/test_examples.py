"""The example assets built on the lake, on the embedded SeaweedFS: they read the curated zone and each other
through the IO manager, their numbers agree with a computation of our own, and a range run writes what
day-by-day runs write."""

import math
import statistics
from datetime import date

import dagster as dg
import polars as pl
import pytest

from lake_assets.defs.analytics.returns import daily_returns
from lake_assets.defs.analytics.volatility import TRADING_DAYS, WINDOW, volatility_20d
from lake_assets.lake.calendars import publishing_days
from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.orchestration.factory import build_dataset_defs
from lake_assets.orchestration.resources import S3TransferResource
from lake_assets_tests.conftest import publish
from lake_assets_tests.orchestration.test_io_manager import read_with_polars

pytestmark = pytest.mark.integration
JANUARY = publishing_days("nyse", date(2024, 1, 2), date(2024, 1, 31))  # 21 trading days
SHIPPED = [a for a in build_dataset_defs(DAY_AGGS).assets or [] if isinstance(a, dg.AssetsDefinition)]
RAW_AND_CURATED = [a for a in SHIPPED if a.key.path[-1] in ("raw", "curated")]
EXAMPLES = [daily_returns, volatility_20d]


def span(first: date, last: date) -> dict[str, str]:
    """The tags of a range run over ``first .. last``."""
    return {"dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat()}


def read(lake: dict[str, S3TransferResource], asset: dg.AssetsDefinition) -> pl.DataFrame:
    """What the IO manager wrote for ``asset``, read back by polars' own S3 client."""
    prefix = "assets/" + "/".join(asset.key.path) + "/"
    return read_with_polars(lake["lake_s3"], lake["lake_s3"].bucket, prefix).drop("year", "month", "day")


def test_the_examples_compute_from_the_lake_and_a_range_run_writes_what_single_days_write(
        resources: dict[str, object], lake: dict[str, S3TransferResource]) -> None:
    publish(lake, DAY_AGGS, JANUARY)
    assert dg.materialize(RAW_AND_CURATED, resources=resources, tags=span(JANUARY[0], JANUARY[-1])).success
    ranged = dg.materialize([*RAW_AND_CURATED, *EXAMPLES], selection=EXAMPLES, resources=resources,
                            tags=span(JANUARY[0], JANUARY[-1]))
    assert ranged.success
    returns, volatility = read(lake, daily_returns), read(lake, volatility_20d)
    assert returns.height == volatility.height == 100 * len(JANUARY)

    curated = read_with_polars(lake["lake_s3"], lake["lake_s3"].bucket, DAY_AGGS.curated.listing_prefix)
    closes = {(row["ticker"], row["date"]): row["close"] for row in curated.iter_rows(named=True)}
    ticker = curated["ticker"].min()
    own = [closes[(ticker, day)] / closes[(ticker, before)] - 1 for before, day in zip(JANUARY, JANUARY[1:])]
    theirs = returns.filter(pl.col("ticker") == ticker).sort("date")["return"].to_list()
    assert theirs[0] is None and theirs[1:] == pytest.approx(own)  # the first day has no close before it
    ticker_volatility = volatility.filter(pl.col("ticker") == ticker).sort("date")["volatility"].to_list()
    assert ticker_volatility[:-1] == [None] * (len(JANUARY) - 1)  # 20 returns only on the 21st day
    assert ticker_volatility[-1] == pytest.approx(statistics.stdev(own[-WINDOW:]) * math.sqrt(TRADING_DAYS))

    for day in (JANUARY[10], JANUARY[-1]):  # the 16th follows a holiday; the 31st reads 20 days of returns
        alone = dg.materialize([*RAW_AND_CURATED, *EXAMPLES], selection=EXAMPLES, resources=resources,
                               partition_key=day.isoformat())
        assert alone.success
    assert read(lake, daily_returns).sort("date", "ticker").equals(returns.sort("date", "ticker"))
    assert read(lake, volatility_20d).sort("date", "ticker").equals(volatility.sort("date", "ticker"))
