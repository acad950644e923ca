"""Freshness of a curated asset, judged on its partitions' dates: a check on the newest due partition.

A Dagster ``FreshnessPolicy`` judges the time since the asset's newest materialization of *any*
partition, so a backfill of old days, or a lake whose newest day is years old but was re-curated this
morning, would look fresh; so the curated asset declares none. The ``newest_partition_due`` check asks
the instance whether the newest partition whose file was due (:mod:`lake_assets.lake.due`) is curated,
and says which day the lake's newest curated partition is and how many publishing days it is behind.
A vendor that stops publishing shows as a failing (warning) check at the next due hour.
"""

from datetime import datetime, timedelta, timezone

import dagster as dg

from lake_assets.defs.resources import S3TransferResource
from lake_assets.lake.calendars import publishing_days
from lake_assets.lake.coverage import by_partition
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.due import newest_due_day
from lake_assets.lake.layout import partition_date, partition_key

#: Slack after a due time before a partition counts as late: the sensor's tick and a run.
GRACE = timedelta(minutes=30)
DUE_CHECK = "newest_partition_due"


def build_due_check(spec: DatasetSpec, partitions: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    """A warning check: is the newest partition whose vendor file was due (plus :data:`GRACE`) curated?"""
    asset = dg.AssetKey([spec.name, "curated"])

    @dg.asset_check(asset=asset, name=DUE_CHECK, blocking=False,
                    description=f"The newest {spec.name} partition whose vendor file was due ({spec.due} after "
                                f"the start of its day, {spec.timezone}) is curated; says how many publishing "
                                f"days the lake's newest curated partition is behind it.")
    def newest_partition_due(context: dg.AssetCheckExecutionContext,
                             lake_s3: S3TransferResource) -> dg.AssetCheckResult:
        now = datetime.now(timezone.utc)
        day = newest_due_day(spec, now - GRACE)
        if day is None:
            return dg.AssetCheckResult(passed=True, metadata={"detail": "no partition is due yet"})
        key = partition_key(day)
        status = (context.instance.get_status_by_partition(asset, [key], partitions) or {}).get(key)
        curated = status == dg.AssetPartitionStatus.MATERIALIZED
        with lake_s3.open() as lake:
            newest = max(by_partition(lake.iter_objects(lake_s3.bucket, spec.curated.listing_prefix),
                                      spec.curated.date_of), default=None)
        behind = len(publishing_days(spec.calendar, partition_date(newest), day)) - 1 if newest else None
        detail = (f"{spec.name} {key} was due at {spec.due_at(day).isoformat()}; "
                  + ("curated" if curated else f"not curated ({status.value.lower() if status else 'missing'})")
                  + (f"; the newest curated partition is {newest}, {behind} publishing day(s) behind"
                     if newest else "; nothing is curated"))
        return dg.AssetCheckResult(passed=curated, severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"partition": key, "due_at": spec.due_at(day).isoformat(),
                                             "newest_curated": newest or "", "publishing_days_behind": behind,
                                             "detail": detail})

    return newest_partition_due
