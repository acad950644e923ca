"""The kinds of dataset this project ships: Polygon-style US stock day aggregates and ISO nodal prices
(the ``defs.yaml`` files of the defs folder say which datasets of these kinds the code location builds)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from lake_assets.lake.datasets.spec import DatasetSpec
from lake_assets.lake.layout import KeyTemplate


def _day_aggs_rollup(month: pl.LazyFrame) -> pl.LazyFrame:
    return month.group_by("ticker").agg(
        pl.col("date").min().alias("first_day"),
        pl.col("date").max().alias("last_day"),
        pl.col("open").sort_by("date").first().alias("open"),
        pl.col("close").sort_by("date").last().alias("close"),
        pl.col("high").max().alias("high"),
        pl.col("low").min().alias("low"),
        pl.col("volume").sum().alias("volume"),
        pl.len().alias("trading_days"),
    ).sort("ticker")


def _nodal_rollup(month: pl.LazyFrame) -> pl.LazyFrame:
    return month.group_by("node").agg(
        pl.col("lmp").mean().alias("mean_lmp"),
        pl.col("lmp").max().alias("max_lmp"),
        pl.col("lmp").min().alias("min_lmp"),
        pl.col("date").n_unique().alias("days"),
    ).sort("node")


DAY_AGGS = DatasetSpec(
    name="day_aggs",
    description="US stocks daily aggregates (Polygon flat-file columns), one vendor CSV.gz per trading day.",
    source=KeyTemplate("us_stocks_sip/day_aggs_v1/{yyyy}/{mm}/{date}.csv.gz"),
    schema={"ticker": pl.String(), "volume": pl.Int64(), "open": pl.Float64(), "close": pl.Float64(),
            "high": pl.Float64(), "low": pl.Float64(), "window_start": pl.Int64(), "transactions": pl.Int64()},
    key_columns=("ticker", "window_start"),
    # window_start is the session's midnight in New York, in nanoseconds since the epoch
    row_date=pl.from_epoch("window_start", time_unit="ns").dt.replace_time_zone("UTC")
    .dt.convert_time_zone("America/New_York").dt.date(),
    start_date=date(2024, 1, 2),
    calendar="nyse",
    timezone="America/New_York",
    due=timedelta(days=1, hours=11),  # flat files for day D are out by 11:00 New York time on D+1
    rollup=_day_aggs_rollup,
    ohlc=True,
    count_columns=("volume", "transactions"),
    stamp_columns=("window_start",),
)

NODAL_PRICES = DatasetSpec(
    name="spp_nodal_prices",
    description="SPP day-ahead locational marginal prices by node and hour, one vendor CSV.gz per day.",
    source=KeyTemplate("energy/iso=spp/da_lmp/{yyyy}/da_lmp_{yyyymmdd}.csv.gz"),
    schema={"interval_start": pl.Datetime("us"), "node": pl.String(), "lmp": pl.Float64(),
            "energy": pl.Float64(), "congestion": pl.Float64(), "loss": pl.Float64()},
    key_columns=("interval_start", "node"),
    # interval_start is the hour's start in UTC (so the hours of a DST day are distinct); the day is Chicago's
    row_date=pl.col("interval_start").dt.replace_time_zone("UTC").dt.convert_time_zone("America/Chicago").dt.date(),
    start_date=date(2024, 1, 1),
    calendar="daily",
    timezone="America/Chicago",
    due=timedelta(hours=-11),  # day-ahead prices for day D are published by 13:00 Chicago time on D-1
    rollup=_nodal_rollup,
    hourly_per="node",
    stamp_columns=("interval_start",),
)
