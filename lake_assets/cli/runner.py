"""Sensor-driven backfills without the daemon: tick a dataset's sensor and run what it requests, in process.

The runs go through the given Dagster instance (``dagster_home`` for the ``lake run`` command), so
the UI shows them afterwards, tagged with the sensor's name and run key as the daemon would tag
them; the daemon's sensor later dedupes on the same run keys. The sensor decides, as under the
daemon, which failed requests are retried now and which wait for their backoff; runs a killed
``lake run`` left unfinished are marked failed first, and are retried at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from lake_assets.defs.factory import ingest_job_name, rollup_job_name
from lake_assets.defs.healing import PARTITION_TAG, RUNNER_TAG, mark_killed_runs, run_partitions
from lake_assets.defs.sensors import sensor_name
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.planning import stale_months

#: Run config that keeps in-process runs quiet on the console; every event still goes to the instance.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class BackfillReport:
    """What one dataset's backfill did."""

    dataset: str
    ticks: int = 0
    runs: int = 0
    failed_runs: list[str] = field(default_factory=list)
    killed_runs: int = 0
    partitions: int = 0
    last_tick: str = ""
    months: list[str] = field(default_factory=list)
    seconds: float = 0.0


def request_partitions(request: dg.RunRequest, job: dg.JobDefinition) -> list[str]:
    """Return the partition keys a run request covers (one key, or a range over the job's partitions)."""
    if job.partitions_def is None:
        raise ValueError(f"job {job.name} is not partitioned")
    tags = {**request.tags, PARTITION_TAG: request.partition_key} if request.partition_key else dict(request.tags)
    return list(run_partitions(tags, job.partitions_def))


def run_sensor_backfill(defs: dg.Definitions, instance: dg.DagsterInstance, spec: DatasetSpec,
                        on_run: Callable[[str, int, bool], None], max_ticks: int = 1000) -> BackfillReport:
    """Tick the dataset's missing-partition sensor until it requests nothing, running every request.

    ``on_run(description, partitions, succeeded)`` is called after each run. Afterwards the months
    every month whose summary is missing or older than one of its curated days is rolled up, judged
    from the lake itself, so a backfill killed before a rollup gets it on the next run.
    """
    began = time.perf_counter()
    report = BackfillReport(spec.name)
    sensor = defs.resolve_sensor_def(sensor_name(spec))
    job = defs.resolve_job_def(ingest_job_name(spec))
    report.killed_runs = mark_killed_runs(instance, sensor.name)
    resources = defs.resources or {}
    cursor: str | None = None
    while report.ticks < max_ticks:
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources,
                                     definitions=defs) as context:
            result = sensor(context)
        report.ticks += 1
        cursor = result.cursor
        requests = list(result.run_requests or [])
        if not requests:
            report.last_tick = (result.skip_reason.skip_message if result.skip_reason else None) or ""
            break
        for request in requests:
            keys = request_partitions(request, job)
            outcome = job.execute_in_process(
                instance=instance, partition_key=request.partition_key, raise_on_error=False, run_config=QUIET,
                tags={**request.tags, "dagster/run_key": request.run_key or "", "dagster/sensor_name": sensor.name,
                      RUNNER_TAG: "in-process"})
            report.runs += 1
            report.partitions += len(keys)
            if not outcome.success:
                report.failed_runs.append(f"{keys[0]}..{keys[-1]}")
            on_run(f"{spec.name} {keys[0]}..{keys[-1]}", len(keys), outcome.success)
    rollup = defs.resolve_job_def(rollup_job_name(spec))
    lake_s3 = resources["lake_s3"].process_config_and_initialize()
    with lake_s3.open() as lake:
        months = stale_months(spec, lake.iter_objects(lake_s3.bucket, spec.curated.listing_prefix),
                              lake.iter_objects(lake_s3.bucket, spec.rollup_prefix + "/"))
    for month in months:
        outcome = rollup.execute_in_process(instance=instance, partition_key=month, raise_on_error=False,
                                            run_config=QUIET)
        report.months.append(month)
        on_run(f"{spec.name} monthly {month[:7]}", 0, outcome.success)
        if not outcome.success:
            report.failed_runs.append(f"monthly {month}")
    report.seconds = time.perf_counter() - began
    return report
