"""A dataset's sensors ticked in this process, each request run in process: a harness for tests and benchmarks of
the sensors' policy (healing, planning, a backfill's cost), with the daemon's tags on each run. The product runs
the real ``dagster-daemon`` (``lake run``: :mod:`lake_assets.cli.daemon`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from lake_assets.lake.datasets import DatasetSpec
from lake_assets.orchestration.factory import ingest_job_name, rollup_job_name
from lake_assets.orchestration.sensors import rollup_sensor_name, sensor_name
from lake_assets.orchestration.tags import PARTITION_TAG, SENSOR_TAG, run_partitions

#: Run config that keeps in-process runs quiet on the console; every event still goes to the instance.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
#: The run-key tag the daemon writes on a sensor's run.
RUN_KEY_TAG = "dagster/run_key"


@dataclass
class BackfillReport:
    """What one dataset's backfill did."""

    dataset: str
    ticks: int = 0
    runs: int = 0  # ingest runs; rollups are counted in ``months``
    failed_runs: list[str] = field(default_factory=list)
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
    """Tick the dataset's missing-partition sensor, then its rollup sensor, each until it requests nothing,
    running every request in process; ``on_run(description, partitions, succeeded)`` is called after each run."""
    began = time.perf_counter()
    report = BackfillReport(spec.name)
    report.last_tick = _drain(defs, instance, sensor_name(spec), ingest_job_name(spec), report, on_run, max_ticks)
    _drain(defs, instance, rollup_sensor_name(spec), rollup_job_name(spec), report, on_run, max_ticks, rollups=True)
    report.seconds = time.perf_counter() - began
    return report


def _drain(defs: dg.Definitions, instance: dg.DagsterInstance, name: str, job_name: str, report: BackfillReport,
           on_run: Callable[[str, int, bool], None], max_ticks: int, rollups: bool = False) -> str:
    """Tick sensor ``name`` until it requests nothing, running each request on ``job_name`` (month partitions
    when ``rollups``); return its last skip reason."""
    sensor = defs.resolve_sensor_def(name)
    job = defs.resolve_job_def(job_name)
    cursor: str | None = None
    for _ in range(max_ticks):
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=defs.resources or {},
                                     definitions=defs, sensor_name=name) as context:
            result = sensor(context)
        report.ticks += 1
        cursor = result.cursor
        requests = list(result.run_requests or [])
        if not requests:
            return (result.skip_reason.skip_message if result.skip_reason else None) or ""
        for request in requests:
            keys = request_partitions(request, job)
            outcome = job.execute_in_process(
                instance=instance, partition_key=request.partition_key, raise_on_error=False, run_config=QUIET,
                tags={**request.tags, RUN_KEY_TAG: request.run_key or "", SENSOR_TAG: name})
            span = f"monthly {keys[0][:7]}..{keys[-1][:7]}" if rollups else f"{keys[0]}..{keys[-1]}"
            if rollups:
                report.months.extend(keys)
            else:
                report.runs += 1
                report.partitions += len(keys)
            if not outcome.success:
                report.failed_runs.append(span)
            on_run(f"{report.dataset} {span}", 0 if rollups else len(keys), outcome.success)
    return ""
