"""Sensor-driven backfills without the daemon: tick a dataset's sensors and run what they request, in process;
then evaluate the automation conditions of the assets built on the lake, and run what they request.

The runs go through the given Dagster instance (``dagster_home`` for the ``lake run`` command), so
the UI shows them afterwards, tagged with the sensor's name and run key as the daemon would tag
them; the daemon's sensor later dedupes on the same run keys. The sensor decides, as under the
daemon, which failed requests are retried now and which wait for their backoff; runs a killed
``lake run`` left unfinished are marked failed first, and are retried at once.
"""

from __future__ import annotations

import graphlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.planning import contiguous
from lake_assets.orchestration.factory import due_job_name, ingest_job_name, rollup_job_name
from lake_assets.orchestration.healing import mark_killed_runs
from lake_assets.orchestration.sensors import rollup_sensor_name, sensor_name
from lake_assets.orchestration.tags import PARTITION_TAG, RUNNER_TAG, range_tags, run_partitions, sensor_run_tags

#: Where ``lake run`` keeps its automation-condition cursor, under the Dagster instance's directory.
AUTOMATION_CURSOR = Path("lake-run") / "automation.cursor"
#: Run config that keeps in-process runs quiet on the console; every event still goes to the instance.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class BackfillReport:
    """What one dataset's backfill did."""

    dataset: str
    ticks: int = 0
    runs: int = 0  # ingest runs; rollups are counted in ``months``
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
    """Tick the dataset's missing-partition sensor, then its rollup sensor, each until it requests nothing,
    running every request in process: the same definitions, and so the same policy, as under the daemon.

    ``on_run(description, partitions, succeeded)`` is called after each run.
    """
    began = time.perf_counter()
    report = BackfillReport(spec.name)
    report.killed_runs = sum(mark_killed_runs(instance, name) for name in (sensor_name(spec),
                                                                           rollup_sensor_name(spec)))
    report.last_tick = _drain(defs, instance, sensor_name(spec), ingest_job_name(spec), report, on_run, max_ticks)
    _drain(defs, instance, rollup_sensor_name(spec), rollup_job_name(spec), report, on_run, max_ticks, rollups=True)
    report.seconds = time.perf_counter() - began
    return report


def run_due_checks(defs: dg.Definitions, instance: dg.DagsterInstance,
                   spec: DatasetSpec) -> list[dg.AssetCheckEvaluation]:
    """Run the dataset's due checks in process, as its schedule does at the due hour, and return their results:
    after ``lake run`` the curated asset's freshness (``newest_partition_due``) and calendar check are evaluated
    on what the backfill left, not "not evaluated" until the next due hour."""
    result = defs.resolve_job_def(due_job_name(spec)).execute_in_process(
        instance=instance, raise_on_error=False, run_config=QUIET, tags={RUNNER_TAG: "in-process"})
    return result.get_asset_check_evaluations()


def _drain(defs: dg.Definitions, instance: dg.DagsterInstance, name: str, job_name: str, report: BackfillReport,
           on_run: Callable[[str, int, bool], None], max_ticks: int, rollups: bool = False) -> str:
    """Tick sensor ``name`` until it requests nothing, running each request on ``job_name`` (month partitions
    when ``rollups``); return its last skip reason."""
    sensor = defs.resolve_sensor_def(name)
    job = defs.resolve_job_def(job_name)
    resources = defs.resources or {}
    cursor: str | None = None
    for _ in range(max_ticks):
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources, definitions=defs,
                                     sensor_name=name) as context:
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
                tags={**sensor_run_tags(request, name), RUNNER_TAG: "in-process"})
            span = f"monthly {_span(tuple(key[:7] for key in keys))}" if rollups else f"{keys[0]}..{keys[-1]}"
            if rollups:
                report.months.extend(keys)
            else:
                report.runs += 1
                report.partitions += len(keys)
            if not outcome.success:
                report.failed_runs.append(span)
            on_run(f"{report.dataset} {span}", 0 if rollups else len(keys), outcome.success)
    return ""


@dataclass
class AutomationReport:
    """What one evaluation-and-run pass over the automation conditions did."""

    evaluations: int = 0
    runs: int = 0
    partitions: dict[str, int] = field(default_factory=dict)  # asset -> partitions materialised
    failed_runs: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class AutomationRun:
    """One in-process run: some assets over one partition, one range, or (unpartitioned) nothing."""

    assets: tuple[dg.AssetKey, ...]
    keys: tuple[str, ...]


def run_automation(defs: dg.Definitions, instance: dg.DagsterInstance, cursor_file: Path,
                   on_run: Callable[[str, int, bool], None], max_evaluations: int = 10) -> AutomationReport:
    """Evaluate the automation conditions the daemon's automation sensor evaluates, and run what they request
    in process, until they request nothing.

    Ranges run as the assets' ``BackfillPolicy`` allows, as a backfill would run them. The evaluation
    cursor is kept in ``cursor_file`` and written once a round's runs are over, so a killed ``lake run``
    is asked for the same partitions again, and a later one sees what changed since (a corrected day's
    dependents).
    """
    began = time.perf_counter()
    report = AutomationReport()
    cursor = dg.deserialize_value(cursor_file.read_text()) if cursor_file.exists() else None
    for _ in range(max_evaluations):
        result = dg.evaluate_automation_conditions(defs, instance, cursor=cursor)
        report.evaluations += 1
        requested = {key: result.get_requested_partitions(key) for key in defs.resolve_all_asset_keys()}
        runs = automation_runs(defs, {key: keys for key, keys in requested.items() if keys})
        for run in runs:
            outcome = _execute(defs, instance, run)
            what = f"{', '.join(key.to_user_string() for key in run.assets)} {_span(run.keys)}"
            report.runs += 1
            for key in run.assets:
                report.partitions[key.to_user_string()] = report.partitions.get(key.to_user_string(), 0) + len(
                    run.keys)
            if not outcome.success:
                report.failed_runs.append(what)
            on_run(what, len(run.keys), outcome.success)
        cursor = result.cursor
        cursor_file.parent.mkdir(parents=True, exist_ok=True)
        cursor_file.write_text(dg.serialize_value(cursor))
        if not runs:
            break
    report.seconds = time.perf_counter() - began
    return report


def automation_runs(defs: dg.Definitions, requested: Mapping[dg.AssetKey, set[str | None]]) -> list[AutomationRun]:
    """The runs that materialise ``requested`` (asset -> partition keys, None for unpartitioned), upstream first.

    An asset's keys are cut into neighbouring ranges of at most its backfill policy's
    ``max_partitions_per_run`` (one per run without a policy); assets asked for the same ranges of the
    same partitions run together.
    """
    order = {key: position for position, key in enumerate(_upstream_first(defs))}
    runs: dict[tuple[tuple[str, ...], dg.PartitionsDefinition | None], list[dg.AssetKey]] = {}
    for asset in sorted(requested, key=order.__getitem__):
        definition = defs.resolve_assets_def(asset)
        partitions = definition.partitions_def
        if partitions is None:
            runs.setdefault(((), None), []).append(asset)
            continue
        all_keys = partitions.get_partition_keys()
        index = {key: position for position, key in enumerate(all_keys)}
        policy = definition.backfill_policy
        most = policy.max_partitions_per_run if policy is not None else 1
        wanted = sorted((key for key in requested[asset] if key is not None), key=index.__getitem__)
        for keys in contiguous(wanted, index, most):
            runs.setdefault((keys, partitions), []).append(asset)
    planned = [AutomationRun(tuple(assets), keys) for (keys, _), assets in runs.items()]
    return sorted(planned, key=lambda run: min(order[asset] for asset in run.assets))


def _upstream_first(defs: dg.Definitions) -> list[dg.AssetKey]:
    """Every asset key of ``defs``, each after the assets it depends on."""
    graph = {spec.key: {dep.asset_key for dep in spec.deps} for spec in defs.resolve_all_asset_specs()}
    return list(graphlib.TopologicalSorter(graph).static_order())


def _execute(defs: dg.Definitions, instance: dg.DagsterInstance, run: AutomationRun) -> dg.ExecuteInProcessResult:
    """Execute one automation run in process, through the code location's implicit asset job."""
    job = defs.resolve_implicit_job_def_def_for_assets(run.assets)
    if job is None:
        raise ValueError(f"no asset job holds {run.assets}")
    tags = {RUNNER_TAG: "in-process"}
    if len(run.keys) > 1:
        tags.update(range_tags(run.keys))
    return job.execute_in_process(instance=instance, asset_selection=list(run.assets), raise_on_error=False,
                                  partition_key=run.keys[0] if len(run.keys) == 1 else None, run_config=QUIET,
                                  tags=tags)


def _span(keys: tuple[str, ...]) -> str:
    """A run's partitions as a reader wants them: a key, a range, or nothing for an unpartitioned run."""
    return f"{keys[0]}..{keys[-1]}" if len(keys) > 1 else (keys[0] if keys else "")
