"""The raw, curated and rollup assets of one dataset, declared from its spec.

Table metadata uses Dagster's documented ``dagster/row_count``, ``dagster/partition_row_count``,
``dagster/column_schema`` and ``dagster/uri`` keys, which the UI plots and links.
"""

import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import dagster as dg

from lake_assets.defs.checks import check_specs, passed_check_results
from lake_assets.defs.resources import S3TransferResource
from lake_assets.lake.curation import CurationError
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.layout import partition_date
from lake_assets.lake.steps import CurateResult, Store, curate, mirror_raw, roll_up_month

T = TypeVar("T")
#: Partitions of one range run worked on at once (S3 round trips and polars overlap; two cores).
PARTITION_WORKERS = 4

def each_partition(keys: Sequence[str], work: Callable[[str], T]) -> list[tuple[str, T | Exception]]:
    """Do one partition's work for every key, a few at a time; return each result or error, in key order.

    A range run's partitions are independent, and their time is mostly waiting on S3 or in polars
    (which releases the GIL), so overlapping them shortens a range run without more runs.
    """
    def attempt(key: str) -> T | Exception:
        try:
            return work(key)
        except Exception as exc:  # handed back to the asset, which decides what fails the run
            return exc

    if len(keys) == 1:
        return [(keys[0], attempt(keys[0]))]
    with ThreadPoolExecutor(PARTITION_WORKERS, thread_name_prefix="partition") as pool:
        return list(zip(keys, pool.map(attempt, keys)))


def build_raw_asset(spec: DatasetSpec, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The vendor's file for each day, mirrored byte for byte into ``raw/dataset=<name>/year=/month=/day=``."""

    @dg.asset(
        key=[spec.name, "raw"], group_name=spec.name, owners=list(spec.owners), kinds={"s3"},
        partitions_def=partitions, backfill_policy=dg.BackfillPolicy.multi_run(spec.chunk), pool="s3",
        description=f"{spec.description}\n\nMirror of `{spec.source.template}` (vendor bucket) at "
                    f"`{spec.raw.listing_prefix}year=YYYY/month=MM/day=DD/{spec.raw.filename}`.",
    )
    def raw(context: dg.AssetExecutionContext, vendor_s3: S3TransferResource,
            lake_s3: S3TransferResource) -> dg.MaterializeResult:
        actions: dict[str, str] = {}
        with vendor_s3.open() as vendor, lake_s3.open() as lake, tempfile.TemporaryDirectory() as work:
            vendor_store, lake_store = Store(vendor, vendor_s3.bucket), Store(lake, lake_s3.bucket)
            server_side = lake_s3.shares_store_with(vendor_s3)
            for key, result in each_partition(context.partition_keys, lambda key: mirror_raw(
                    spec, partition_date(key), vendor_store, lake_store, server_side=server_side,
                    workdir=Path(work))):
                if isinstance(result, Exception):
                    raise result
                actions[key] = f"{result.action} (source ETag {result.source.etag})"
                context.log.info("%s %s: %s %s", spec.name, key, result.action, lake_store.uri(result.raw_key))
        metadata: dict[str, object] = {"partitions": len(actions)}
        if len(actions) == 1:
            key = context.partition_keys[0]
            metadata["uri"] = dg.MetadataValue.url(f"s3://{lake_s3.bucket}/{spec.raw.key_for_partition(key)}")
            metadata["action"] = actions[key]
        else:
            metadata["actions"] = dg.MetadataValue.json(actions)
        return dg.MaterializeResult(metadata=metadata)

    return raw


def build_curated_asset(spec: DatasetSpec, partitions: dg.PartitionsDefinition,
                        raw: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """Typed Parquet per day, written only when every check passes (blocking checks)."""
    @dg.asset(
        key=[spec.name, "curated"], group_name=spec.name, owners=list(spec.owners), kinds={"polars", "parquet", "s3"},
        deps=[raw], partitions_def=partitions, backfill_policy=dg.BackfillPolicy.multi_run(spec.chunk),
        check_specs=check_specs(spec, dg.AssetKey([spec.name, "curated"])), pool="s3",
        description=f"{spec.description}\n\nTyped, checked Parquet at "
                    f"`{spec.curated.listing_prefix}year=YYYY/month=MM/day=DD/data.parquet` (Hive partitioning).",
    )
    def curated(context: dg.AssetExecutionContext, lake_s3: S3TransferResource) -> dg.MaterializeResult:
        written: dict[str, CurateResult] = {}
        errors: list[str] = []
        with lake_s3.open() as lake:
            store = Store(lake, lake_s3.bucket)
            for key, result in each_partition(context.partition_keys,
                                              lambda key: curate(spec, partition_date(key), store)):
                if isinstance(result, CurationError):
                    context.log.error("%s", result)
                    errors.append(str(result))
                elif isinstance(result, Exception):
                    raise result
                else:
                    written[key] = result
        if errors:
            raise dg.Failure(description="; ".join(errors), metadata={
                "failed_partitions": len(errors), "written_partitions": len(written)})
        if len(written) > 1:
            for observation in _partition_observations(spec, lake_s3.bucket, written):
                context.log_event(observation)
        return _curated_result(spec, lake_s3.bucket, written)

    return curated


def _curated_result(spec: DatasetSpec, bucket: str, written: dict[str, CurateResult]) -> dg.MaterializeResult:
    """The run's materialization: per-partition figures for one partition, the range's totals for several.

    Dagster copies a range run's metadata onto every partition's event (dagster-io/dagster#18123),
    so a range reports ``range_rows``/``range_bytes`` and per-partition maps instead of a row count
    that would be wrong for each partition; the exact figures go in :func:`_partition_observations`.
    """
    first = next(iter(written.values()))
    metadata: dict[str, object] = {
        "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(n, t) for n, t in first.schema.items()]),
        "partitions": len(written),
    }
    if len(written) == 1:
        metadata.update(_partition_metadata(bucket, first))
    else:
        metadata["range_rows"] = sum(result.rows for result in written.values())
        metadata["range_bytes"] = sum(result.bytes for result in written.values())
        metadata["rows_by_partition"] = dg.MetadataValue.json({key: r.rows for key, r in written.items()})
        metadata["uri_by_partition"] = dg.MetadataValue.json({key: _uri(bucket, r) for key, r in written.items()})
    outcomes = [outcome for result in written.values() for outcome in result.outcomes]
    return dg.MaterializeResult(metadata=metadata, check_results=passed_check_results(spec, outcomes))


def _partition_metadata(bucket: str, result: CurateResult) -> dict[str, object]:
    """One partition's row count, size and object URI, under the keys the UI plots and links."""
    return {"dagster/row_count": result.rows, "dagster/partition_row_count": result.rows, "bytes": result.bytes,
            "dagster/uri": _uri(bucket, result)}


def _uri(bucket: str, result: CurateResult) -> str:
    return f"s3://{bucket}/{result.key}"


def _partition_observations(spec: DatasetSpec, bucket: str,
                            written: dict[str, CurateResult]) -> list[dg.AssetObservation]:
    """One observation per partition of a range run, carrying that partition's own figures."""
    return [dg.AssetObservation(asset_key=dg.AssetKey([spec.name, "curated"]), partition=key,
                                metadata=_partition_metadata(bucket, result))
            for key, result in written.items()]


def build_rollup_asset(spec: DatasetSpec, months: dg.PartitionsDefinition,
                       curated: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """A monthly summary read from the month's curated Hive prefix."""

    @dg.asset(
        key=[spec.name, "monthly"], group_name=spec.name, owners=list(spec.owners), kinds={"polars", "parquet"},
        deps=[dg.AssetDep(curated, partition_mapping=dg.TimeWindowPartitionMapping())], partitions_def=months,
        description=f"Monthly summary of {spec.name}, at `{spec.rollup_prefix}/year=YYYY/month=MM/summary.parquet`.",
    )
    def monthly(context: dg.AssetExecutionContext, lake_s3: S3TransferResource) -> dg.MaterializeResult:
        start = context.partition_time_window.start
        with lake_s3.open() as lake:
            key, summary, days = roll_up_month(spec, start.year, start.month, Store(lake, lake_s3.bucket))
        context.log.info("%s %04d-%02d: %d rows from %d daily partitions", spec.name, start.year, start.month,
                         summary.height, days)
        return dg.MaterializeResult(metadata={
            "dagster/row_count": summary.height,
            "dagster/uri": f"s3://{lake_s3.bucket}/{key}",
            "daily_partitions_read": days,
        })

    return monthly
