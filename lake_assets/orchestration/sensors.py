"""The sensors that keep a dataset whole: missing partitions, and months whose summary is out of date.

The missing-partition sensor lists the vendor and lake prefixes and requests what the lake lacks;
the rollup sensor lists the curated zone and requests each month whose summary is missing or older
than one of its days. Both heal: a request whose runs all failed, and whose partitions are still
missing, is made again with backoff and a bound on attempts (:mod:`lake_assets.orchestration.healing`), so an
incident costs minutes, not the hours to the next full pass. Both are on by default: keeping the
lake complete is what a user deploys it for.
"""

import time
from collections.abc import Callable, Sequence
from datetime import timedelta

import dagster as dg

from lake_assets.lake.calendars import closed_weekdays
from lake_assets.lake.coverage import why_not_a_partition
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.layout import partition_date, partition_key
from lake_assets.lake.planning import (
    PartitionRun,
    PlanCursor,
    altered,
    plan_rechecks,
    plan_reconciliations,
    plan_rollups,
    plan_tick,
    starts_full_pass,
    written_since,
)
from lake_assets.lake.steps import Store, curated_etag, mirrored_etag
from lake_assets.orchestration.healing import (
    failed_partitions,
    heal,
    in_flight,
    latest_records,
    log_healing,
    record_again,
)
from lake_assets.orchestration.partitions import partition_keys
from lake_assets.orchestration.resources import S3TransferResource
from lake_assets.orchestration.tags import first_request, retry_request
from lake_assets.s3 import ObjectInfo

#: Seconds between full reconciliations (a pass over the whole history instead of after the cursor): a deleted
#: or altered curated object is requested again within this long and a tick. Twenty years' full pass lists 12
#: pages and costs about 0.9 CPU s, the rollup sensor's 0.5 (``bench/history.py``): 0.5% of a core.
FULL_INTERVAL_SECONDS = 5 * 60
#: Most partitions one tick requests (two full ranges of 250); the next tick resumes after the last one.
MAX_PARTITIONS_PER_TICK = 500
#: Most failed partitions a tick asks the vendor and raw zone about (a HEAD each), to find corrected files.
MAX_RECHECKS = 50
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
    decides when a full pass is due and when a failed request's backoff has passed."""

    @dg.sensor(name=sensor_name(spec), job_name=job_name, minimum_interval_seconds=TICK_SECONDS,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Lists `{spec.source.static_prefix}` at the vendor and "
                           f"`{spec.curated.listing_prefix}` in the lake after its cursor (a full pass every "
                           f"{FULL_INTERVAL_SECONDS // 60} min, which also makes again curated objects altered "
                           f"outside the lake's runs) and requests missing or outdated partitions "
                           f"as range runs of up to {spec.chunk}.")
    def missing_partitions(context: dg.SensorEvaluationContext, vendor_s3: S3TransferResource,
                           lake_s3: S3TransferResource) -> dg.SensorResult:
        curated, raw = dg.AssetKey([spec.name, "curated"]), dg.AssetKey([spec.name, "raw"])
        cursor = PlanCursor.from_json(context.cursor)
        now = clock()
        start = None if starts_full_pass(cursor, now, FULL_INTERVAL_SECONDS) else cursor.after
        lake_start = spec.curated.key(spec.source.date_of(start)) if start else None
        keys = partition_keys(partitions)
        with vendor_s3.open() as vendor, lake_s3.open() as lake:
            objects = list(lake.iter_objects(lake_s3.bucket, spec.curated.listing_prefix, start_after=lake_start))
            redo = altered_objects(context.instance, spec, curated, objects, cursor.full_at) if start is None else {}
            flying = in_flight(context.instance, curated, job_name, partitions)
            plan = plan_tick(spec, keys,
                             vendor.iter_objects(vendor_s3.bucket, spec.source.static_prefix, start_after=start),
                             objects, cursor, now, FULL_INTERVAL_SECONDS, MAX_PARTITIONS_PER_TICK,
                             unrecorded_closed_days(context.instance, spec, curated, keys, start), redo, flying)
            lists = sum(handler.get_statistics()["requests"].get("ListObjectsV2", 0) for handler in (vendor, lake))
            busy = {key for run in plan.runs for key in run.keys} | flying
            failed = {asset: [key for key in failed_partitions(context.instance, asset, job_name, partitions,
                                                               MAX_RECHECKS) if key not in busy]
                      for asset in (curated, raw)}
            store = Store(lake, lake_s3.bucket)
            sources = {key: vendor.find(vendor_s3.bucket, spec.source.key(partition_date(key)))
                       for key in {*failed[curated], *failed[raw]}}
            rechecks = plan_rechecks(spec, keys, failed[curated], sources.get,
                                     lambda key: mirrored_etag(spec, partition_date(key), store))
            etags = recorded_etags(context.instance, curated, {
                key: curated_etag(spec, partition_date(key), store) for key in sources})
            reconciled = {asset: plan_reconciliations(failed[asset], sources.get, etags.get) for asset in failed}
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
        context.log.info("%s: %s pass, %d vendor files seen, %d partitions in %d runs, %d LIST requests%s",
                         spec.name, "full" if plan.full_pass else "incremental", plan.source_seen, plan.partitions,
                         len(plan.runs), lists, " (capped)" if plan.capped else "")
        return _requests(context, spec, curated, job_name, partitions, plan.runs + rechecks, now,
                         f"{plan.source_seen} vendor files seen, {len(rechecks)} failed partition(s) corrected",
                         plan.cursor.to_json())

    return missing_partitions


def recorded_etags(instance: dg.DagsterInstance, curated: dg.AssetKey,
                   etags: dict[str, str | None]) -> dict[str, str | None]:
    """The curated objects' vendor ETags (``etags``, by partition) that Dagster's latest materialization of the
    partition records too: only such a day can be recorded again from its last record, which describes it."""
    recorded = latest_records(instance, curated, sorted(etags))
    found = {key: record.asset_materialization.metadata.get("source_etag") if record.asset_materialization else None
             for key, record in recorded.items()}
    return {key: etag for key, etag in etags.items()
            if etag is not None and (value := found.get(key)) is not None and str(value.value) == etag}


def altered_objects(instance: dg.DagsterInstance, spec: DatasetSpec, curated: dg.AssetKey,
                    objects: list[ObjectInfo], since: float) -> dict[str, str]:
    """The curated partitions whose object, written since the last full pass began (``since``), is newer than
    Dagster's latest record of it: altered outside the lake's runs, to be made again. Only the objects written
    since then are looked up in the instance (every object once, on a sensor's first full pass)."""
    written = written_since(spec, objects, since)
    records = latest_records(instance, curated, sorted(written))
    return altered(written, {key: record.timestamp for key, record in records.items()})


def unrecorded_closed_days(instance: dg.DagsterInstance, spec: DatasetSpec, curated: dg.AssetKey,
                           keys: Sequence[str], after: str | None) -> list[str]:
    """The partitions among ``keys`` that the calendar closes and Dagster has not recorded (as closed, or curated
    from a file the vendor published anyway), after the date of source key ``after`` when given (an incremental
    tick: one before it that Dagster lost is found by the next full pass); asked of the instance at once."""
    if not keys:
        return []
    first = spec.source.date_of(after) + timedelta(days=1) if after else partition_date(keys[0])
    closed = [partition_key(day) for day in closed_weekdays(spec.calendar, first, partition_date(keys[-1]))]
    recorded = latest_records(instance, curated, closed)
    return [key for key in closed if key not in recorded]


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
        return _requests(context, spec, dg.AssetKey([spec.name, "monthly"]), job_name, months, runs, now, seen,
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


def _requests(context: dg.SensorEvaluationContext, spec: DatasetSpec, asset: dg.AssetKey, job_name: str,
              partitions: dg.PartitionsDefinition, planned: list[PartitionRun], now: float, seen: str,
              cursor: str | None) -> dg.SensorResult:
    """The tick's result: new requests and due retries of failed ones, or why there are none."""
    new, healing = heal(context.instance, asset, context.sensor_name, job_name, partitions, planned, now)
    log_healing(context.log, spec, healing, now)
    requests = [first_request(run) for run in new] + [retry_request(retry) for retry in healing.retries]
    if not requests:
        return dg.SensorResult(skip_reason=f"nothing missing ({seen}; {len(healing.waiting)} failed request(s) "
                                           f"waiting to retry, {len(healing.given_up)} given up)", cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)
