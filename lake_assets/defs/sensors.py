"""The missing-partition sensor: lists the vendor and lake prefixes and requests what the lake lacks."""

import time

import dagster as dg

from lake_assets.defs.resources import S3TransferResource
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.planning import PartitionRun, PlanCursor, plan_tick, starts_full_pass

#: Seconds between full reconciliations (a pass over the whole history instead of after the cursor).
FULL_INTERVAL_SECONDS = 6 * 3600
#: Most partitions one tick requests; the next tick resumes after the last one.
MAX_PARTITIONS_PER_TICK = 400
#: Run tags that make one run materialise a range of partitions.
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def run_request(run: PartitionRun) -> dg.RunRequest:
    """A request for one partition, or for a range run (Dagster's partition range tags)."""
    if len(run.keys) == 1:
        return dg.RunRequest(run_key=run.run_key, partition_key=run.start)
    return dg.RunRequest(run_key=run.run_key, tags={RANGE_START_TAG: run.start, RANGE_END_TAG: run.end})


def build_missing_partitions_sensor(spec: DatasetSpec, job_name: str,
                                    partitions: dg.PartitionsDefinition) -> dg.SensorDefinition:
    """Request the partitions that exist at the vendor but not (or not as new) in the curated zone."""

    @dg.sensor(name=f"{spec.name}_missing_partitions", job_name=job_name, minimum_interval_seconds=60,
               description=f"Lists `{spec.source.static_prefix}` at the vendor and "
                           f"`{spec.curated.listing_prefix}` in the lake after its cursor (a full pass every "
                           f"{FULL_INTERVAL_SECONDS // 3600} h) and requests missing or outdated partitions "
                           f"as range runs of up to {spec.chunk}.")
    def missing_partitions(context: dg.SensorEvaluationContext, vendor_s3: S3TransferResource,
                           lake_s3: S3TransferResource) -> dg.SensorResult:
        cursor = PlanCursor.from_json(context.cursor)
        now = time.time()
        start = None if starts_full_pass(cursor, now, FULL_INTERVAL_SECONDS) else cursor.after
        lake_start = spec.curated.key(spec.source.date_of(start)) if start else None
        keys = partitions.get_partition_keys()
        with vendor_s3.open() as vendor, lake_s3.open() as lake:
            plan = plan_tick(spec, keys,
                             vendor.iter_objects(vendor_s3.bucket, spec.source.static_prefix, start_after=start),
                             lake.iter_objects(lake_s3.bucket, spec.curated.listing_prefix, start_after=lake_start),
                             cursor, now, FULL_INTERVAL_SECONDS, MAX_PARTITIONS_PER_TICK)
            lists = vendor.get_statistics()["total_requests"] + lake.get_statistics()["total_requests"]
        for key in plan.off_calendar:
            context.log.warning("%s: vendor published %s on a day the %s calendar skips", spec.name, key, spec.calendar)
        context.log.info("%s: %s pass, %d vendor files seen, %d partitions in %d runs, %d LIST requests%s",
                         spec.name, "full" if plan.full_pass else "incremental", plan.source_seen, plan.partitions,
                         len(plan.runs), lists, " (capped)" if plan.capped else "")
        if not plan.runs:
            return dg.SensorResult(skip_reason=f"nothing missing ({plan.source_seen} vendor files seen)",
                                   cursor=plan.cursor.to_json())
        return dg.SensorResult(run_requests=[run_request(run) for run in plan.runs], cursor=plan.cursor.to_json())

    return missing_partitions
