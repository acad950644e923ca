"""Freshness of a curated asset: a Dagster ``FreshnessPolicy`` and a check on its newest due partition.

``FreshnessPolicy`` judges the asset's newest materialization of any partition, so a backfill of an
old day would make it look fresh; the ``newest_partition_due`` check is partition-aware: it asks the
instance whether the newest partition whose file was due (:mod:`lake_assets.lake.due`) is curated.
A vendor that stops publishing shows as a failing (warning) check and, after its longest normal
silence, as a failed freshness policy.
"""

from datetime import datetime, timedelta, timezone

import dagster as dg

from lake_assets.lake.calendars import CLOSURES_UNTIL
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.due import longest_silence, newest_due_day
from lake_assets.lake.layout import partition_key

#: Slack after a due time before a partition counts as late: the sensor's tick and a run.
GRACE = timedelta(minutes=30)
DUE_CHECK = "newest_partition_due"


def freshness_policy(spec: DatasetSpec) -> dg.FreshnessPolicy:
    """Fail when nothing was curated for longer than the calendar's longest silence (a long weekend), plus grace."""
    return dg.FreshnessPolicy.time_window(fail_window=longest_silence(spec, spec.start_date, CLOSURES_UNTIL) + GRACE)


def build_due_check(spec: DatasetSpec, partitions: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    """A warning check: is the newest partition whose vendor file was due (plus :data:`GRACE`) curated?"""
    asset = dg.AssetKey([spec.name, "curated"])

    @dg.asset_check(asset=asset, name=DUE_CHECK, blocking=False,
                    description=f"The newest {spec.name} partition whose vendor file was due ({spec.due} after "
                                f"the start of its day, {spec.timezone}) is curated.")
    def newest_partition_due(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        now = datetime.now(timezone.utc)
        day = newest_due_day(spec, now - GRACE)
        if day is None:
            return dg.AssetCheckResult(passed=True, metadata={"detail": "no partition is due yet"})
        key = partition_key(day)
        status = (context.instance.get_status_by_partition(asset, [key], partitions) or {}).get(key)
        curated = status == dg.AssetPartitionStatus.MATERIALIZED
        detail = (f"{spec.name} {key} was due at {spec.due_at(day).isoformat()}; "
                  + ("curated" if curated else f"not curated ({status.value.lower() if status else 'missing'})"))
        return dg.AssetCheckResult(passed=curated, severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"partition": key, "due_at": spec.due_at(day).isoformat(),
                                             "detail": detail})

    return newest_partition_due
