"""The monthly rollup asset of one dataset: a summary per month, read from the month's curated Hive prefix."""

import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import polars as pl

from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.datasets.spec import ROLLUP_FILENAME
from lake_assets.lake.steps import Store, roll_up_month
from lake_assets.orchestration import retries
from lake_assets.orchestration.assets import each_partition, fail_partitions, require_partitions
from lake_assets.orchestration.io_manager import lake_metadata
from lake_assets.orchestration.resources import S3TransferResource


def build_rollup_asset(spec: DatasetSpec, months: dg.TimeWindowPartitionsDefinition,
                       curated: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """A monthly summary read from the month's curated Hive prefix; the month in progress is summarised to date.

    Range runs of months (a backfill's rollups are a few runs, not one per month), each month recorded with its
    own materialization, also when another month of the range fails."""

    @dg.asset(
        key=[spec.name, "monthly"], group_name=spec.name, owners=list(spec.owners), kinds={"polars", "parquet"},
        deps=[dg.AssetDep(curated, partition_mapping=dg.TimeWindowPartitionMapping())], partitions_def=months,
        backfill_policy=dg.BackfillPolicy.multi_run(spec.chunk), output_required=False,
        retry_policy=retries.STEP_RETRIES, metadata=lake_metadata(spec.rollup_prefix, ROLLUP_FILENAME),
        description=f"Monthly summary of {spec.name}, at `{spec.rollup_prefix}/year=YYYY/month=MM/summary.parquet`; "
                    f"rolled up by the `{spec.name}_rollups` sensor whenever a curated day of the month changes.",
    )
    def monthly(context: dg.AssetExecutionContext, lake_s3: S3TransferResource) -> Iterator[dg.AssetMaterialization]:
        require_partitions(context, months)
        now = datetime.now(timezone.utc)
        with lake_s3.open() as lake, tempfile.TemporaryDirectory() as work:
            store = Store(lake, lake_s3.bucket)

            def roll_up(key: str) -> tuple[str, pl.DataFrame, int]:
                with tempfile.TemporaryDirectory(dir=work) as month_dir:  # a month's days, gone once summarised
                    return roll_up_month(spec, int(key[:4]), int(key[5:7]), store, Path(month_dir))

            results = each_partition(context.partition_keys, roll_up)
        errors = {key: result for key, result in results if isinstance(result, Exception)}
        rolled = {key: result for key, result in results if not isinstance(result, Exception)}
        for key, (uri_key, summary, days) in rolled.items():
            to_date = months.time_window_for_partition_key(key).end > now
            yield dg.AssetMaterialization(asset_key=context.asset_key, partition=key, metadata={
                "dagster/row_count": summary.height,
                "dagster/uri": f"s3://{lake_s3.bucket}/{uri_key}",
                "daily_partitions_read": days,
                "month_to_date": to_date,
            })
        if rolled:  # one line a run: each line is a stored event
            context.log.info("%s monthly: %s", spec.name, "; ".join(
                f"{key[:7]} {summary.height} rows from {days} days" for key, (_, summary, days) in rolled.items()))
        if errors:  # a curated day that cannot be read fails its month for good; S3's failures are retried
            fail_partitions(context, errors)

    return monthly
