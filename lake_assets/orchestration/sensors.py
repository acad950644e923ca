"""The sensors that keep a dataset whole: missing partitions, and months whose summary is out of date.

The missing-partition sensor lists the vendor and lake prefixes and requests what the lake lacks;
the rollup sensor lists the curated zone and requests each month whose summary is missing or older
than one of its days. Both heal: a request whose runs all failed, and whose partitions are still
missing, is made again with backoff and a bound on attempts (:mod:`lake_assets.orchestration.healing`), so an
incident costs minutes, not the hours to the next sweep of the history. Both are on by default: keeping the
lake complete is what a user deploys it for.
"""

import itertools
import time
from collections.abc import Callable, Sequence

import dagster as dg

from lake_assets.lake.coverage import why_not_a_partition
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.layout import partition_date
from lake_assets.lake.planning import (
    PartitionRun,
    PlanCursor,
    plan_rechecks,
    plan_reconciliations,
    plan_rollups,
    plan_tick,
    starts_full_pass,
)
from lake_assets.lake.steps import Store, curated_etag
from lake_assets.lake.sweep import advance, sweep_since, sweep_size, sweep_window
from lake_assets.orchestration.healing import (
    heal,
    in_flight,
    log_healing,
    record_again,
)
from lake_assets.orchestration.partitions import partition_keys
from lake_assets.orchestration.resources import S3TransferResource
from lake_assets.orchestration.sensor_reads import (
    altered_objects,
    curated_objects,
    failed_days,
    read_days,
    recorded_etags,
    unrecorded_closed_days,
)
from lake_assets.orchestration.tags import first_request, retry_request

#: Seconds within which the missing-partition sensor's sweep re-reads the whole history, a window a tick
#: (:mod:`lake_assets.lake.sweep`), and between the rollup sensor's full passes: a deleted or altered curated
#: object is requested again within this long and a tick (``bench/history.py`` measures a tick's CPU).
FULL_INTERVAL_SECONDS = 5 * 60
#: Most partitions one tick requests (two full ranges of 250); the next tick resumes after the last one.
MAX_PARTITIONS_PER_TICK = 500
#: Seconds between ticks: a published day is requested within this long (one LIST page after the cursor).
TICK_SECONDS = 30
#: The action a partition recorded again says.
RECORDED_AGAIN = ("recorded again: a later run failed, but the lake holds this partition curated from the vendor's "
                  "current file")


def sensor_name(spec: DatasetSpec) -> str:
    """The name of a dataset's missing-partition sensor, which its runs carry in ``dagster/sensor_name``."""
    return f"{spec.name}_missing_partitions"


def rollup_sensor_name(spec: DatasetSpec) -> str:
    """The name of a dataset's rollup sensor."""
    return f"{spec.name}_rollups"


#: Where a sensor reads the time (POSIX seconds): :func:`time.time`, or a test's clock, so that backoffs and full
#: passes are tested by moving the clock instead of sleeping.
Clock = Callable[[], float]


def build_missing_partitions_sensor(spec: DatasetSpec, job_name: str, partitions: dg.PartitionsDefinition,
                                    clock: Clock = time.time) -> dg.SensorDefinition:
    """Request the partitions that exist at the vendor but not (or not as new) in the curated zone; ``clock``
    decides when a sweep of the history begins and when a failed request's backoff has passed."""

    @dg.sensor(name=sensor_name(spec), job_name=job_name, minimum_interval_seconds=TICK_SECONDS,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Lists `{spec.source.static_prefix}` at the vendor and "
                           f"`{spec.curated.listing_prefix}` in the lake after its cursor, and one window of the "
                           f"history besides, so that the whole history is swept every "
                           f"{FULL_INTERVAL_SECONDS // 60} min (which also makes again curated objects altered "
                           f"outside the lake's runs); requests missing or outdated partitions as range runs of up "
                           f"to {spec.chunk}.")
    def missing_partitions(context: dg.SensorEvaluationContext, vendor_s3: S3TransferResource,
                           lake_s3: S3TransferResource) -> dg.SensorResult:
        curated, raw = dg.AssetKey([spec.name, "curated"]), dg.AssetKey([spec.name, "raw"])
        cursor = PlanCursor.from_json(context.cursor)
        now = clock()
        keys = partition_keys(partitions)
        size = sweep_size(len(keys), TICK_SECONDS, FULL_INTERVAL_SECONDS)
        with vendor_s3.open() as vendor, lake_s3.open() as lake:
            window, wraps = sweep_window(vendor.iter_objects(vendor_s3.bucket, spec.source.static_prefix,
                                                             start_after=cursor.sweep, page_size=size + 1),
                                         size, cursor.after)
            objects = [*(curated_objects(spec, lake, lake_s3.bucket, cursor.sweep, window[-1].key, size + 1)
                         if window else []),
                       *(curated_objects(spec, lake, lake_s3.bucket, cursor.after, None) if cursor.after else [])]
            redo = altered_objects(context.instance, spec, curated, objects, sweep_since(cursor))
            flying = in_flight(context.instance, curated, job_name, partitions)
            store = Store(lake, lake_s3.bucket)
            days = failed_days(context.instance, spec, job_name, partitions, vendor, vendor_s3.bucket, store)
            new = vendor.iter_objects(vendor_s3.bucket, spec.source.static_prefix,
                                      start_after=cursor.after) if cursor.after else ()
            plan = plan_tick(spec, keys, itertools.chain(window, new), objects, PlanCursor(cursor.after, now), now,
                             FULL_INTERVAL_SECONDS, MAX_PARTITIONS_PER_TICK,
                             unrecorded_closed_days(context.instance, spec, curated, read_days(spec, keys, cursor,
                                                                                               window)), redo,
                             flying, lake.iter_objects(lake_s3.bucket, spec.quarantine.listing_prefix), days.waiting)
            lists = sum(handler.get_statistics()["requests"].get("ListObjectsV2", 0) for handler in (vendor, lake))
            busy = {key for run in plan.runs for key in run.keys} | flying
            failed = {asset: [key for key in found if key not in busy] for asset, found in days.failed.items()}
            rechecks = plan_rechecks(spec, keys, failed[curated], days.sources.get, days.mirrored.get)
            etags = recorded_etags(context.instance, curated, {
                key: curated_etag(spec, partition_date(key), store) for key in {*failed[curated], *failed[raw]}})
            reconciled = {asset: plan_reconciliations(failed[asset], days.sources.get, etags.get) for asset in failed}
        for asset, reconcile in reconciled.items():
            if reconcile:
                record_again(context.instance, spec, asset, reconcile, RECORDED_AGAIN)
                context.log.info("%s: %s recorded again (%s): its last run failed, but the lake holds it curated from "
                                 "the vendor's current file", spec.name, asset.to_user_string(), ", ".join(reconcile))
        if redo:
            context.log.warning("%s: curated object(s) written outside the lake's runs, curated again: %s",
                                spec.name, ", ".join(sorted(redo)))
        for key in plan.off_calendar:
            context.log.warning("%s: vendor file %s is not a partition: %s", spec.name, key,
                                why_not_a_partition(spec, key))
        context.log.info("%s: %d vendor files seen (%d of them the sweep's window%s), %d partitions in %d runs, "
                         "%d LIST requests%s", spec.name, plan.source_seen, len(window),
                         ", the last of this sweep" if wraps else "", plan.partitions, len(plan.runs), lists,
                         " (capped)" if plan.capped else "")
        return _requests(context, spec, (curated, raw), job_name, partitions, plan.runs + rechecks, now,
                         f"{plan.source_seen} vendor files seen, {len(rechecks)} failed partition(s) corrected",
                         advance(cursor, plan, window, wraps, now).to_json())

    return missing_partitions


def build_rollup_sensor(spec: DatasetSpec, job_name: str, months: dg.PartitionsDefinition,
                        clock: Clock = time.time) -> dg.SensorDefinition:
    """Request the months whose summary is missing or older than one of their curated days."""
    curated = dg.AssetKey([spec.name, "curated"])

    @dg.sensor(name=rollup_sensor_name(spec), job_name=job_name, minimum_interval_seconds=TICK_SECONDS,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Requests each month whose summary is missing or older than one of its curated days, "
                           f"the month in progress included (summarised to date): the months of the days Dagster "
                           f"recorded since its cursor, and every {FULL_INTERVAL_SECONDS // 60} min all of "
                           f"`{spec.curated.listing_prefix}` and `{spec.rollup_prefix}/`.")
    def rollups(context: dg.SensorEvaluationContext, lake_s3: S3TransferResource) -> dg.SensorResult:
        now = clock()
        cursor = PlanCursor.from_json(context.cursor)
        newest = context.instance.fetch_materializations(curated, limit=1).records
        full = starts_full_pass(cursor, now, FULL_INTERVAL_SECONDS)
        changed = None if full else months_recorded_since(context.instance, curated, int(cursor.after or 0))
        next_cursor = PlanCursor(after=str(newest[0].storage_id if newest else 0),
                                 full_at=now if changed is None else cursor.full_at).to_json()
        runs = plan_changed_months(spec, lake_s3, changed, partition_keys(months)) if changed != set() else []
        seen = (f"{sum(len(run.keys) for run in runs)} month(s) out of date" if changed != set()
                else "no curated day recorded since the last tick")
        return _requests(context, spec, [dg.AssetKey([spec.name, "monthly"])], job_name, months, runs, now, seen,
                         next_cursor)  # also on a quiet tick: a failed month is retried after its backoff

    return rollups


def plan_changed_months(spec: DatasetSpec, lake_s3: S3TransferResource, changed: set[str] | None,
                        month_keys: Sequence[str]) -> list[PartitionRun]:
    """The rollups out of date among the ``changed`` months (``YYYY-MM-01``), listing only their days and summaries;
    among every month of the lake when ``changed`` is None (a full pass); ranges over ``month_keys``."""
    with lake_s3.open() as lake:
        if changed is None:
            return plan_rollups(spec, lake.iter_objects(lake_s3.bucket, spec.curated.listing_prefix),
                                lake.iter_objects(lake_s3.bucket, spec.rollup_prefix + "/"), month_keys)
        months = [(int(month[:4]), int(month[5:7])) for month in sorted(changed)]
        return plan_rollups(
            spec, (info for year, month in months
                   for info in lake.iter_objects(lake_s3.bucket, spec.curated.month_prefix(year, month))),
            (info for year, month in months
             for info in lake.iter_objects(lake_s3.bucket, spec.rollup_key(year, month))), month_keys)


#: Most curated records a rollup tick reads to find the months that changed; past that it lists the whole lake.
MAX_CHANGED_RECORDS = 500


def months_recorded_since(instance: dg.DagsterInstance, curated: dg.AssetKey, after: int) -> set[str] | None:
    """The months (``YYYY-MM-01``) of the curated days Dagster recorded after storage id ``after``, or None when
    there are more than :data:`MAX_CHANGED_RECORDS` records (a backfill's: one listing of the lake is cheaper).

    A run records a day after writing it, so a tick that reads the record lists the object it describes."""
    result = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=curated, after_storage_id=after),
                                             limit=MAX_CHANGED_RECORDS)
    if result.has_more:
        return None
    return {record.partition_key[:8] + "01" for record in result.records if record.partition_key}


def _requests(context: dg.SensorEvaluationContext, spec: DatasetSpec, assets: Sequence[dg.AssetKey], job_name: str,
              partitions: dg.PartitionsDefinition, planned: list[PartitionRun], now: float, seen: str,
              cursor: str | None) -> dg.SensorResult:
    """The tick's result: new requests and due retries of failed ones, or why there are none. ``assets`` are the
    job's, the first the one whose partitions the sensor keeps (the others' observations count too)."""
    new, healing = heal(context.instance, assets[0], context.sensor_name, job_name, partitions, planned, now, assets)
    log_healing(context.log, spec, healing, now)
    requests = [first_request(run) for run in new] + [retry_request(retry) for retry in healing.retries]
    if not requests:
        return dg.SensorResult(skip_reason=f"nothing missing ({seen}; {len(healing.waiting)} failed request(s) "
                                           f"waiting to retry, {len(healing.given_up)} given up)", cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)
