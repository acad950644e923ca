"""A warning check that the vendor publishes only on the dataset's partitions (no file on a weekend of a weekday
calendar).

A vendor file dated on a day that is not a partition is never curated: if the calendar is wrong about a real
trading day, that day would be lost without a word. This check lists the vendor's prefix and fails (WARN)
naming such files; ``lake status`` counts them. (A file on a holiday is a partition's, curated with the
``open_day`` warning.)
"""

import dagster as dg

from lake_assets.lake.coverage import by_partition, off_calendar_files, why_not_a_partition
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.orchestration.resources import S3TransferResource

OFF_CALENDAR_CHECK = "vendor_files_on_calendar"
#: Off-calendar vendor keys a failed result lists.
MAX_LISTED = 50


def build_off_calendar_check(spec: DatasetSpec, partitions: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    """A warning check: no vendor file of ``spec`` is dated on a day that is not a partition."""

    @dg.asset_check(asset=dg.AssetKey([spec.name, "curated"]), name=OFF_CALENDAR_CHECK, blocking=False,
                    description=f"No vendor file under `{spec.source.static_prefix}` is dated on a day that is "
                                f"not a partition of the `{spec.calendar}` calendar, a weekend (such a file is never "
                                f"curated: the calendar or the file is wrong).")
    def vendor_files_on_calendar(context: dg.AssetCheckExecutionContext,
                                 vendor_s3: S3TransferResource) -> dg.AssetCheckResult:
        with vendor_s3.open() as vendor:
            files = by_partition(vendor.iter_objects(vendor_s3.bucket, spec.source.static_prefix),
                                 spec.source.date_of)
        off = off_calendar_files(partitions.get_partition_keys(), files)
        for key in off[:MAX_LISTED]:
            context.log.warning("%s: vendor file %s is not a partition: %s", spec.name, key,
                                why_not_a_partition(spec, key))
        detail = (f"{len(off)} vendor file(s) not on a partition, not curated: "
                  + "; ".join(f"{key}, {why_not_a_partition(spec, key)}" for key in off[:3])
                  if off else f"all {len(files)} vendor files are on publishing days")
        return dg.AssetCheckResult(passed=not off, severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"off_calendar": len(off), "detail": f"{spec.name}: {detail}",
                                             "files": dg.MetadataValue.json(off[:MAX_LISTED])})

    return vendor_files_on_calendar
