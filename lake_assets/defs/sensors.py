"""The missing-partition sensor: lists the vendor and lake prefixes and requests what the lake lacks.

It also heals: a request whose runs all failed, and whose partitions are still not curated, is made
again with backoff and a bound on attempts (:mod:`lake_assets.defs.healing`), so an incident costs
minutes of missing partitions, not the hours to the next full pass.
"""

import time

import dagster as dg

from lake_assets.defs.healing import first_request, heal, log_healing, retry_request
from lake_assets.defs.resources import S3TransferResource
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.planning import PlanCursor, plan_tick, starts_full_pass

#: Seconds between full reconciliations (a pass over the whole history instead of after the cursor).
FULL_INTERVAL_SECONDS = 6 * 3600
#: Most partitions one tick requests; the next tick resumes after the last one.
MAX_PARTITIONS_PER_TICK = 400


def sensor_name(spec: DatasetSpec) -> str:
    """The name of a dataset's missing-partition sensor, which its runs carry in ``dagster/sensor_name``."""
    return f"{spec.name}_missing_partitions"


def build_missing_partitions_sensor(spec: DatasetSpec, job_name: str,
                                    partitions: dg.PartitionsDefinition) -> dg.SensorDefinition:
    """Request the partitions that exist at the vendor but not (or not as new) in the curated zone."""

    @dg.sensor(name=sensor_name(spec), job_name=job_name, minimum_interval_seconds=60,
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
        new, healing = heal(context.instance, spec, sensor_name(spec), partitions, plan.runs, now)
        log_healing(context.log, spec, healing, now)
        requests = [first_request(run) for run in new] + [retry_request(retry) for retry in healing.retries]
        if not requests:
            return dg.SensorResult(skip_reason=f"nothing missing ({plan.source_seen} vendor files seen; "
                                               f"{len(healing.waiting)} failed request(s) waiting to retry, "
                                               f"{len(healing.given_up)} given up)", cursor=plan.cursor.to_json())
        return dg.SensorResult(run_requests=requests, cursor=plan.cursor.to_json())

    return missing_partitions
