"""20-day rolling volatility per ticker: an asset that reads a range of another user asset."""

import dagster as dg
import polars as pl

from lake_assets.defs.analytics.returns import daily_returns
from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.orchestration.automation import keep_current
from lake_assets.orchestration.io_manager import in_run
from lake_assets.orchestration.partitions import daily_partitions

#: Trading days in the rolling window, and in a year (to annualise).
WINDOW, TRADING_DAYS = 20, 252
#: Weekdays read beyond the window for the holidays in it (at most three in any 25 weekdays).
HOLIDAY_SLACK = 5


@dg.asset(
    key=["analytics", "volatility_20d"],
    group_name="analytics",
    partitions_def=daily_partitions(DAY_AGGS),
    ins={"returns": dg.AssetIn(daily_returns.key, partition_mapping=dg.TimeWindowPartitionMapping(
        start_offset=-(WINDOW - 1 + HOLIDAY_SLACK), allow_nonexistent_upstream_partitions=True))},
    backfill_policy=dg.BackfillPolicy.single_run(),
    automation_condition=keep_current(),
)
def volatility_20d(context: dg.AssetExecutionContext, returns: pl.LazyFrame) -> pl.LazyFrame:
    """Annualised standard deviation of each ticker's last 20 daily returns; null until it has 20."""
    return (returns.sort("ticker", "date")
            .with_columns((pl.col("return").rolling_std(WINDOW).over("ticker") * TRADING_DAYS ** 0.5)
                          .alias("volatility"))
            .filter(in_run(context))
            .select("date", "ticker", "volatility"))
