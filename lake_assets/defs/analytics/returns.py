"""Daily close-to-close returns per ticker, from the curated day aggregates and a look-back to the previous
trading day."""

import dagster as dg
import polars as pl

from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.orchestration.automation import keep_current
from lake_assets.orchestration.io_manager import in_run
from lake_assets.orchestration.partitions import daily_partitions

#: Weekdays read before a day: its previous close is within them, holidays between (NYSE has closed at most two
#: weekdays in a row since 2006: Hurricane Sandy).
LOOK_BACK = 3


@dg.asset(
    key=["analytics", "daily_returns"],
    group_name="analytics",
    partitions_def=daily_partitions(DAY_AGGS),
    ins={"bars": dg.AssetIn(["day_aggs", "curated"], partition_mapping=dg.TimeWindowPartitionMapping(
        start_offset=-LOOK_BACK, allow_nonexistent_upstream_partitions=True))},
    backfill_policy=dg.BackfillPolicy.single_run(),
    automation_condition=keep_current(),
)
def daily_returns(context: dg.AssetExecutionContext, bars: pl.LazyFrame) -> pl.LazyFrame:
    """Each ticker's return since its previous close in the input (none on the lake's first day, none on a day the
    market is closed).

    A range run reads the range and the weekdays before it, and returns the range's days.
    """
    return (bars.sort("ticker", "date")
            .with_columns((pl.col("close") / pl.col("close").shift(1).over("ticker") - 1).alias("return"))
            .filter(in_run(context))
            .select("date", "ticker", "close", "return"))
