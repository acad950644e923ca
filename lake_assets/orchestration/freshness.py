"""Freshness of a curated asset, judged on its partitions' dates: a check on the newest due partition.

A Dagster ``FreshnessPolicy`` judges the time since the asset's newest materialization of *any*
partition, so a backfill of old days, or a lake whose newest day is years old but was re-curated this
morning, would look fresh; so the curated asset declares none. The ``newest_partition_due`` check asks
the instance whether the newest partition whose file was due (:mod:`lake_assets.lake.due`) is curated,
and says which day the lake's newest curated partition is and how many publishing days it is behind;
when the day is not curated it tells a vendor that has not published it (the vendor's lag, counted from
the vendor's newest file) from a lake that has not curated a published day.
A vendor that stops publishing shows as a failing (warning) check at the next due hour.

The due schedule runs the check (and the calendar check) daily; the dataset's freshness sensor runs them
again whenever the curated asset has changed and no ingest run is left in progress, so freshness is
judged on what a sensor's run, a backfill or a run from the UI left, not hours later.
"""

from datetime import datetime, timedelta, timezone

import dagster as dg

from lake_assets.lake.coverage import by_partition
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.due import judge_due, newest_due_day
from lake_assets.lake.layout import partition_key
from lake_assets.orchestration.healing import in_flight
from lake_assets.orchestration.resources import S3TransferResource

#: Seconds between the freshness sensor's looks at the curated asset's newest record.
FRESHNESS_TICK_SECONDS = 30
#: Slack after a due time before a partition counts as late: the sensor's tick and a run.
GRACE = timedelta(minutes=30)
DUE_CHECK = "newest_partition_due"


def build_due_check(spec: DatasetSpec, partitions: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    """A warning check: is the newest partition whose vendor file was due (plus :data:`GRACE`) curated?"""
    asset = dg.AssetKey([spec.name, "curated"])

    @dg.asset_check(asset=asset, name=DUE_CHECK, blocking=False,
                    description=f"The newest {spec.name} partition whose vendor file was due ({spec.due} after "
                                f"the start of its day, {spec.timezone}) is curated; when it is not, says whether "
                                f"the vendor has not published it (the vendor's lag) or the lake has not curated "
                                f"it, and how many publishing days each is behind.")
    def newest_partition_due(context: dg.AssetCheckExecutionContext, vendor_s3: S3TransferResource,
                             lake_s3: S3TransferResource) -> dg.AssetCheckResult:
        day = newest_due_day(spec, datetime.now(timezone.utc) - GRACE)
        status = (context.instance.get_status_by_partition(asset, [partition_key(day)], partitions) or {}).get(
            partition_key(day)) if day else None
        with vendor_s3.open() as vendor, lake_s3.open() as lake:
            published = by_partition(vendor.iter_objects(vendor_s3.bucket, spec.source.static_prefix),
                                     spec.source.date_of)
            curated = by_partition(lake.iter_objects(lake_s3.bucket, spec.curated.listing_prefix),
                                   spec.curated.date_of)
        verdict = judge_due(spec, day, status.value.lower() if status else None, published, curated)
        return dg.AssetCheckResult(passed=verdict.passed, severity=dg.AssetCheckSeverity.WARN,
                                   metadata=dict(verdict.metadata))

    return newest_partition_due


def freshness_sensor_name(spec: DatasetSpec) -> str:
    """The name of a dataset's freshness sensor."""
    return f"{spec.name}_freshness"


def build_freshness_sensor(spec: DatasetSpec, due_job_name: str, ingest_job_name: str,
                           partitions: dg.PartitionsDefinition) -> dg.SensorDefinition:
    """Run the due-check job once the curated asset has a record newer than the last one judged and no run of it
    is queued or running (it waits while a backfill's submitted ranges are queued or running)."""
    asset = dg.AssetKey([spec.name, "curated"])

    @dg.sensor(name=freshness_sensor_name(spec), job_name=due_job_name,
               minimum_interval_seconds=FRESHNESS_TICK_SECONDS, default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Runs `{DUE_CHECK}` and the calendar check of {spec.name} after the curated asset "
                           f"changed (a sensor's run, a backfill, a run from the UI), once no ingest run is left.")
    def freshness(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        newest = context.instance.fetch_materializations(asset, limit=1).records
        if not newest:
            return dg.SensorResult(skip_reason="nothing curated yet")
        storage_id = newest[0].storage_id
        if context.cursor and int(context.cursor) >= storage_id:
            return dg.SensorResult(skip_reason="the curated asset has not changed since its checks last ran")
        if in_flight(context.instance, asset, ingest_job_name, partitions):
            return dg.SensorResult(skip_reason="a run of the curated asset is in progress: judged once it is over")
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"{spec.name}:after:{storage_id}")],
                               cursor=str(storage_id))

    return freshness
