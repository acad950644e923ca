"""The raw and curated assets of one dataset, declared from its spec (the rollup's is :mod:`.rollup`).

Table metadata uses Dagster's documented ``dagster/row_count``, ``dagster/partition_row_count`` and
``dagster/uri`` keys per partition, which the UI plots and links, and ``dagster/column_schema`` on the curated
asset's definition (every partition has the declared columns; a copy per partition cost 2 KB a day). The
curated asset records one materialization per partition it wrote (not one for a whole range run), so its metadata
is exact per partition and what S3 holds is what Dagster records, also when a range run half fails.
"""

import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NoReturn, TypeVar

import dagster as dg
import polars as pl

from lake_assets.lake.checks import CheckOutcome
from lake_assets.lake.curation import CurationError
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.day_facts import ClosedDay, Quarantined
from lake_assets.lake.history import History
from lake_assets.lake.layout import partition_date
from lake_assets.lake.steps import (
    ChecksFailedError,
    CurateResult,
    NotPublishedError,
    Store,
    curate,
    mirror_raw,
)
from lake_assets.orchestration import retries
from lake_assets.orchestration.checks import (
    check_evaluations,
    check_results,
    check_specs,
    range_summaries,
    verdict_metadata,
)
from lake_assets.orchestration.healing import PERMANENT_FAILURE, latest_partition_metadata, latest_records
from lake_assets.orchestration.io_manager import lake_metadata
from lake_assets.orchestration.partitions import requested_keys_error
from lake_assets.orchestration.resources import SETUP_ERRORS, S3TransferResource
from lake_assets.orchestration.tags import ATTEMPT_TAG, PARENT_RUN_TAG

T = TypeVar("T")
#: What a curated partition's materialization says when an earlier attempt of the same request wrote it.
EARLIER_ATTEMPT = "already curated from this vendor file by an earlier attempt"
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


#: Failures in the vendor's file: no retry helps until the vendor corrects it (a new ETag, a new request).
VENDOR_ERRORS = (CurationError, NotPublishedError)


def require_partitions(context: dg.AssetExecutionContext, partitions: dg.PartitionsDefinition) -> None:
    """Fail, before anything is read or written, a run asked for a key that is not a partition.

    Dagster 1.13 would run the next partition instead (a Saturday runs as Monday).
    """
    if problem := requested_keys_error(partitions, context.partition_key_range):
        raise dg.Failure(description=f"{context.asset_key.to_user_string()}: {problem}", allow_retries=False)


def fail_partitions(context: dg.AssetExecutionContext, errors: dict[str, Exception]) -> NoReturn:
    """Fail the run for the partitions that failed, after those that succeeded were recorded.

    An error a step retry can outlast (a network or server failure) is raised for the step's retries
    (:data:`~lake_assets.orchestration.retries.STEP_RETRIES`).
    Otherwise the step fails at once: when every error is in the vendor's file (missing, or not
    curatable) each day is observed :data:`~lake_assets.orchestration.healing.PERMANENT_FAILURE` (the UI shows
    why on the day), so healing waits for the file to change; an identity or bucket error is left to
    healing's backoff, since an incident outlasts a step retry.
    """
    for key, error in errors.items():
        context.log.error("%s %s: %s", context.asset_key.to_user_string(), key, error)
    if transient := [error for error in errors.values() if not isinstance(error, (*VENDOR_ERRORS, *SETUP_ERRORS))]:
        raise transient[0]
    if all(isinstance(error, VENDOR_ERRORS) for error in errors.values()):
        for key, error in errors.items():
            context.log_event(dg.AssetObservation(context.asset_key, partition=key, metadata={
                PERMANENT_FAILURE: f"{error}; requested again once the vendor's file changes"}))
    raise dg.Failure(description="; ".join(str(error) for error in errors.values()), allow_retries=False,
                     metadata={"failed_partitions": dg.MetadataValue.json(sorted(errors))})


def build_raw_asset(spec: DatasetSpec, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The vendor's file for each day, mirrored byte for byte into ``raw/dataset=<name>/year=/month=/day=``."""

    @dg.asset(
        key=[spec.name, "raw"], group_name=spec.name, owners=list(spec.owners), kinds={"s3"},
        partitions_def=partitions, backfill_policy=dg.BackfillPolicy.multi_run(spec.chunk), pool="s3",
        retry_policy=retries.STEP_RETRIES,
        description=f"{spec.description}\n\nMirror of `{spec.source.template}` (vendor bucket) at "
                    f"`{spec.raw.listing_prefix}year=YYYY/month=MM/day=DD/{spec.raw.filename}`.",
    )
    def raw(context: dg.AssetExecutionContext, vendor_s3: S3TransferResource,
            lake_s3: S3TransferResource) -> dg.MaterializeResult:
        require_partitions(context, partitions)
        actions: dict[str, str] = {}
        targets: dict[str, str] = {}
        errors: dict[str, Exception] = {}
        with vendor_s3.open() as vendor, lake_s3.open() as lake, tempfile.TemporaryDirectory() as work:
            vendor_store, lake_store = Store(vendor, vendor_s3.bucket), Store(lake, lake_s3.bucket)
            server_side = lake_s3.shares_store_with(vendor_s3)
            for key, result in each_partition(context.partition_keys, lambda key: mirror_raw(
                    spec, partition_date(key), vendor_store, lake_store, server_side=server_side,
                    workdir=Path(work))):
                if isinstance(result, Exception):
                    errors[key] = result
                    continue
                if isinstance(result, ClosedDay):
                    actions[key] = result.action
                    continue
                actions[key] = f"{result.action} (source ETag {result.source.etag})"
                targets[key] = lake_store.uri(result.raw_key)  # the raw zone, or quarantine beside a good copy
        if actions:  # one line for the run, not one a day: Dagster stores each log line as an event (about 15 ms)
            context.log.info("%s raw: %s", spec.name, "; ".join(
                f"{key} {action}" + (f" to {targets[key]}" if key in targets else "")
                for key, action in actions.items()))
        if errors:
            for key, action in actions.items():
                context.log_event(dg.AssetMaterialization(asset_key=context.asset_key, partition=key,
                                                          metadata={"action": action}))
            fail_partitions(context, errors)
        metadata: dict[str, object] = {"partitions": len(actions)}
        if len(actions) == 1:
            key = context.partition_keys[0]
            if key in targets:
                metadata["uri"] = dg.MetadataValue.url(targets[key])
            metadata["action"] = actions[key]
        else:  # copied onto each day of the range by Dagster: a count, not every day's action (the run's log has it)
            metadata["range"] = f"{context.partition_keys[0]}..{context.partition_keys[-1]}"
            metadata["mirrored"] = dg.MetadataValue.json(dict(Counter(action.split(" (")[0]
                                                                      for action in actions.values())))
        return dg.MaterializeResult(metadata=metadata)

    return raw


def build_curated_asset(spec: DatasetSpec, partitions: dg.PartitionsDefinition,
                        raw: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """Typed Parquet per day, written only when every error-severity check passes (blocking checks).

    Each partition written gets its own materialization with its own figures, also when other
    partitions of the same range run fail; a failed check is recorded as a failed check result.
    """
    asset_key = dg.AssetKey([spec.name, "curated"])

    @dg.asset(
        key=asset_key, group_name=spec.name, owners=list(spec.owners), kinds={"polars", "parquet", "s3"},
        deps=[raw], partitions_def=partitions, backfill_policy=dg.BackfillPolicy.multi_run(spec.chunk),
        check_specs=check_specs(spec, asset_key, partitions), pool="s3", output_required=False,
        retry_policy=retries.STEP_RETRIES,
        metadata={**lake_metadata(spec.curated.prefix, spec.curated.filename, spec.calendar),
                  "dagster/column_schema": curated_schema(spec)},
        description=f"{spec.description}\n\nTyped, checked Parquet at "
                    f"`{spec.curated.listing_prefix}year=YYYY/month=MM/day=DD/data.parquet` (Hive partitioning).",
    )
    def curated(context: dg.AssetExecutionContext, lake_s3: S3TransferResource) -> Iterator[
            dg.AssetMaterialization | dg.AssetCheckEvaluation | dg.AssetCheckResult]:
        require_partitions(context, partitions)
        recorded = latest_partition_metadata(context.instance, asset_key, context.partition_keys) \
            if resumed(context) else {}
        written: dict[str, CurateResult] = {}
        closed: dict[str, ClosedDay] = {}
        quarantined: dict[str, Quarantined] = {}
        kept: dict[str, Mapping[str, dg.MetadataValue]] = {}
        outcomes: dict[str, list[CheckOutcome]] = {}
        errors: dict[str, Exception] = {}
        with lake_s3.open() as lake, tempfile.TemporaryDirectory() as work:
            store = Store(lake, lake_s3.bucket)
            history = History(spec, store, Path(work),
                              planned=[partition_date(key) for key in context.partition_keys])
            for key, result in each_partition(context.partition_keys, lambda key: curate(
                    spec, partition_date(key), store, history, _source_etag(recorded.get(key)))):
                if isinstance(result, ChecksFailedError):
                    outcomes[key] = result.outcomes
                if isinstance(result, Exception):
                    errors[key] = result
                elif result is None:
                    context.log.info("%s %s: %s", spec.name, key, EARLIER_ATTEMPT)
                    kept[key] = {**recorded[key], "action": dg.MetadataValue.text(EARLIER_ATTEMPT)}
                elif isinstance(result, ClosedDay):
                    context.log.info("%s %s: %s", spec.name, key, result.action)
                    closed[key], outcomes[key] = result, []
                elif isinstance(result, Quarantined):
                    context.log.warning("%s %s: %s: %s", spec.name, key, result.action, result.reason)
                    quarantined[key], outcomes[key] = result, result.outcomes(spec)
                else:
                    written[key], outcomes[key] = result, result.outcomes
        for key, result in written.items():  # yielded, so stored before the check results that name them
            yield dg.AssetMaterialization(asset_key=asset_key, partition=key, metadata={
                **_partition_metadata(lake_s3.bucket, result), **verdict_metadata(spec, result.outcomes)})
        for key, metadata in kept.items():  # recorded again, so this run's failure does not mark them failed
            yield dg.AssetMaterialization(asset_key=asset_key, partition=key, metadata=metadata)
        served = latest_partition_metadata(context.instance, asset_key, sorted(quarantined)) if quarantined else {}
        for key, day in quarantined.items():  # the lake still serves the day: materialized, its warning says why
            yield dg.AssetMaterialization(asset_key=asset_key, partition=key, metadata={
                **served.get(key, {}), "action": day.action, "quarantine": day.reason, "source_etag": day.served_etag,
                "dagster/uri": f"s3://{lake_s3.bucket}/{day.key}", **verdict_metadata(spec, outcomes[key])})
        for key, day in closed.items():  # a fact with no data: the day is complete, not missing
            yield dg.AssetMaterialization(asset_key=asset_key, partition=key,
                                          metadata={"market_closed": day.name, "action": day.action})
        if len(context.partition_keys) > 1 and outcomes:  # the summaries first: a check's latest result is a day's
            yield from range_summaries(spec, outcomes)
            yield from check_evaluations(spec, asset_key, outcomes,
                                         latest_records(context.instance, asset_key, sorted(outcomes)))
        elif len(context.partition_keys) == 1 and outcomes:
            yield from check_results(spec, context.partition_key, outcomes[context.partition_key])
        if errors:
            fail_partitions(context, errors)

    return curated


def resumed(context: dg.AssetExecutionContext) -> bool:
    """Whether this step repeats earlier work of the same request: a step retry, a run retry, or a heal."""
    tags = context.run.tags
    return context.retry_number > 0 or PARENT_RUN_TAG in tags or int(tags.get(ATTEMPT_TAG, "1")) > 1


def _source_etag(metadata: Mapping[str, dg.MetadataValue] | None) -> str | None:
    """The vendor ETag a recorded materialization of a curated partition names, if any."""
    value = (metadata or {}).get("source_etag")
    return str(value.value) if value is not None else None


def _partition_metadata(bucket: str, result: CurateResult) -> dict[str, object]:
    """One partition's row count, size, object URI and source ETag, under the keys the UI plots and links (the column
    schema is the asset's, declared once: the `schema` check keeps every partition to it)."""
    return {"dagster/row_count": result.rows, "dagster/partition_row_count": result.rows, "bytes": result.bytes,
            "dagster/uri": f"s3://{bucket}/{result.key}", "source_etag": result.source_etag}


def curated_schema(spec: DatasetSpec) -> dg.TableSchema:
    """The columns of every curated partition: the vendor's declared columns and the partition's ``date``."""
    return dg.TableSchema(columns=[dg.TableColumn(name, str(dtype))
                                   for name, dtype in {**spec.schema, "date": pl.Date()}.items()])
