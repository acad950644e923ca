"""The daily schedule: at the hour a dataset's newest partition is due, check that it arrived.

It requests no data: the missing-partition sensor requests each day as soon as the vendor publishes
it, so a schedule that also requested the newest partition would either run before the vendor
(failing, and burning its run key) or duplicate the sensor's run. The schedule runs the
``newest_partition_due`` check instead, so a late vendor shows in the UI's Checks tab.
"""

from datetime import timedelta

import dagster as dg

from lake_assets.lake.datasets import DatasetSpec
from lake_assets.orchestration.freshness import GRACE


def due_cron(spec: DatasetSpec) -> str:
    """The cron string, in the dataset's timezone, of the time of day its files are due plus the grace."""
    time_of_day = (spec.due + GRACE) % timedelta(days=1)
    minutes = int(time_of_day.total_seconds()) // 60
    return f"{minutes % 60} {minutes // 60} * * *"


def build_due_schedule(spec: DatasetSpec, job_name: str) -> dg.ScheduleDefinition:
    """Every day at the due time (in ``spec.timezone``), run the check job ``job_name``; on by default."""
    return dg.ScheduleDefinition(
        name=f"{spec.name}_due", cron_schedule=due_cron(spec), execution_timezone=spec.timezone, job_name=job_name,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Checks, when the newest {spec.name} partition is due, that it is curated.")
