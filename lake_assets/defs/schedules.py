"""The daily schedule: the newest partition, once a day, after the vendor has published."""

import dagster as dg

from lake_assets.lake.datasets import DatasetSpec


def build_daily_schedule(spec: DatasetSpec, job_name: str,
                         partitions: dg.TimeWindowPartitionsDefinition) -> dg.ScheduleDefinition:
    """At 06:00 New York time, request the newest partition; its key is the run key, so it runs once."""

    @dg.schedule(name=f"{spec.name}_daily", cron_schedule="0 6 * * *", execution_timezone="America/New_York",
                 job_name=job_name, description=f"Materialises the newest {spec.name} partition every morning.")
    def daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        with dg.partition_loading_context(effective_dt=context.scheduled_execution_time):
            newest = partitions.get_last_partition_key()
        if newest is None:
            return dg.SkipReason("no partition exists yet")
        return dg.RunRequest(run_key=f"{spec.name}:{newest}", partition_key=newest)

    return daily
