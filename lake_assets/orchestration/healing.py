"""The Dagster side of healing: a sensor's failed requests, read from the instance's run records.

The policy (when a failed request is made again, how often) is plain Python in
:mod:`lake_assets.lake.healing`; runs carry the request they belong to and their attempt
(:mod:`lake_assets.orchestration.tags`); this module reads them back, and asks the instance which of the partitions in play were curated since
(their materializations after a given run began, and the runs still working on them). It never asks for
the status of every partition: Dagster's per-partition status costs about a millisecond a key for a
calendar of twenty years, so a tick that asked it of the whole history cost seconds. A run whose process died
is Dagster's to mark failed and run again (run monitoring, run retries: ``dagster.yaml``), not healing's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone

import dagster as dg

from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.healing import HealingPolicy, HealPlan, RequestHistory, plan_retries
from lake_assets.lake.planning import PartitionRun
from lake_assets.orchestration.checks import recorded_again
from lake_assets.orchestration.tags import (
    ATTEMPT_TAG,
    REQUEST_TAG,
    SENSOR_TAG,
    run_partitions,
)

#: When failed requests are made again; a tick looks back over ``HISTORY_SECONDS`` of the sensor's runs.
HEALING = HealingPolicy()
HISTORY_SECONDS = 24 * 3600
#: Failed runs a tick reads, newest first, to find the partitions whose vendor file may have been corrected.
RECENT_FAILED_RUNS = 50
#: Most event records Dagster returns for one query (more raises ``DagsterInvariantViolationError``).
MAX_RECORDS_PER_QUERY = 10_000
#: The metadata key of the observation a run records on a day whose vendor file cannot be curated (a missing file,
#: or one that fails an error check): the UI shows it on the day, and healing waits for the file to change.
PERMANENT_FAILURE = "permanent_failure"
_FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def request_histories(instance: dg.DagsterInstance, sensor: str, partitions: dg.PartitionsDefinition,
                      since: float, marked: Sequence[dg.AssetKey]) -> list[RequestHistory]:
    """The sensor's requests with a run since ``since`` that did not succeed (failed, or not finished), each with
    all its attempts, from the run records.

    Only those requests can need a retry, so a tick after a backfill of hundreds of runs that all succeeded
    reads none of them; each such request's runs are then read whole (a later attempt may have succeeded).
    """
    records = instance.get_run_records(dg.RunsFilter(
        tags={SENSOR_TAG: sensor}, statuses=[status for status in dg.DagsterRunStatus
                                             if status != dg.DagsterRunStatus.SUCCESS],
        updated_after=datetime.fromtimestamp(since, timezone.utc)))
    requests = sorted({request for record in records if (request := record.dagster_run.tags.get(REQUEST_TAG))})
    return [history for request in requests
            if (history := request_history(instance, request, partitions, marked)) is not None]


def _history(instance: dg.DagsterInstance, request: str, runs: list[dg.RunRecord], partitions: dg.PartitionsDefinition,
             marked: Sequence[dg.AssetKey]) -> RequestHistory | None:
    keys = run_partitions(dict(runs[0].dagster_run.tags), partitions)
    if not keys:
        return None
    # the newest attempt, and of its runs (Dagster's run retries carry the same attempt) the newest
    newest = max(runs, key=lambda record: (int(record.dagster_run.tags.get(ATTEMPT_TAG, "1")), began(record)))
    statuses = [record.dagster_run.status for record in runs]
    return RequestHistory(
        request=request, keys=keys, attempts=int(newest.dagster_run.tags.get(ATTEMPT_TAG, "1")),
        active=any(status not in _FINISHED for status in statuses),
        succeeded=newest.dagster_run.status == dg.DagsterRunStatus.SUCCESS, last_end=newest.end_time,
        last_start=began(newest),
        permanent=newest.dagster_run.status == dg.DagsterRunStatus.FAILURE
        and failed_for_good(instance, newest, keys, marked))


def failed_for_good(instance: dg.DagsterInstance, run: dg.RunRecord, keys: Sequence[str],
                    marked: Sequence[dg.AssetKey]) -> bool:
    """Whether ``run`` observed one of its partitions (``keys``) of an asset of ``marked`` as
    :data:`PERMANENT_FAILURE`: the vendor's file cannot be curated, and no retry helps until it changes."""
    run_id = run.dagster_run.run_id
    return any(record.run_id == run_id and record.asset_observation is not None
               and PERMANENT_FAILURE in record.asset_observation.metadata
               for asset in marked for record in instance.fetch_observations(
                   dg.AssetRecordsFilter(asset_key=asset, asset_partitions=list(keys), after_timestamp=began(run) - 1),
                   limit=MAX_RECORDS_PER_QUERY).records)


def failed_for_good_days(instance: dg.DagsterInstance, assets: Sequence[dg.AssetKey], keys: Sequence[str]) -> set[str]:
    """Those of ``keys`` whose newest record, of one of ``assets``, is a :data:`PERMANENT_FAILURE` observation (none
    materialized since): the vendor's file could not be curated, so healing has given the day up until it changes."""
    found: set[str] = set()
    for asset in assets if keys else ():
        observed: dict[str, int] = {}
        for record in instance.fetch_observations(dg.AssetRecordsFilter(asset_key=asset, asset_partitions=list(keys)),
                                                  limit=MAX_RECORDS_PER_QUERY).records:
            if record.partition_key and record.asset_observation and (
                    PERMANENT_FAILURE in record.asset_observation.metadata):
                observed.setdefault(record.partition_key, record.storage_id)
        made = latest_records(instance, asset, sorted(observed))
        found |= {key for key, storage_id in observed.items() if key not in made or made[key].storage_id < storage_id}
    return found


def request_history(instance: dg.DagsterInstance, request: str, partitions: dg.PartitionsDefinition,
                    marked: Sequence[dg.AssetKey]) -> RequestHistory | None:
    """The history of one request, however old: Dagster drops a run key it has seen, at any age."""
    runs = list(instance.get_run_records(dg.RunsFilter(tags={REQUEST_TAG: request})))
    return _history(instance, request, runs, partitions, marked) if runs else None


def began(record: dg.RunRecord) -> float:
    """When a run began, or was created if it never started."""
    return record.start_time or record.create_timestamp.timestamp()


def heal(instance: dg.DagsterInstance, asset: dg.AssetKey, sensor: str, job_name: str,
         partitions: dg.PartitionsDefinition, planned: Iterable[PartitionRun], now: float,
         marked: Sequence[dg.AssetKey]) -> tuple[list[PartitionRun], HealPlan]:
    """Split a tick's work into new requests and retries of failed ones whose ``asset`` partitions are still missing;
    a request whose last run observed a partition of an asset of ``marked`` failed for good waits for its file.

    A planned run that is a request made before (same partitions, same source ETags) is left to the
    retries, since Dagster drops a repeated run key: at once if that request succeeded (the lake lost
    its partitions since), after its backoff if it failed. A failed request whose partitions a new run
    covers is not retried. Only the failed requests' partitions are looked up: a partition is still
    missing unless it was materialized after the request's last run began, or a run is working on it.
    """
    histories = request_histories(instance, sensor, partitions, now - HISTORY_SECONDS, marked)
    recent = {history.request for history in histories}
    histories += [history for run in planned if run.run_key not in recent
                  and (history := request_history(instance, run.run_key, partitions, marked)) is not None]
    known = {history.request for history in histories}
    new = [run for run in planned if run.run_key not in known]
    lost = {run.run_key for run in planned if run.run_key in known}
    covered = {key for run in new for key in run.keys}
    since: dict[str, float] = {}  # each failed partition, and when the newest failed run covering it began
    for history in histories:
        if not history.active and not history.succeeded:
            for key in set(history.keys) - covered:
                since[key] = max(since.get(key, history.last_start), history.last_start)
    return new, plan_retries(histories, not_curated_since(instance, asset, job_name, partitions, since), now,
                             HEALING, lost)


def not_curated_since(instance: dg.DagsterInstance, asset: dg.AssetKey, job_name: str,
                      partitions: dg.PartitionsDefinition, since: Mapping[str, float]) -> set[str]:
    """Those of ``since``'s partitions of ``asset`` with no materialization at or after their time, and that no
    unfinished run of ``job_name`` (or selecting ``asset``) is working on."""
    if not since:
        return set()
    latest = latest_materializations(instance, asset, since, min(since.values()))
    busy = in_flight(instance, asset, job_name, partitions)
    return {key for key, time in since.items() if latest.get(key, float("-inf")) < time and key not in busy}


def latest_materializations(instance: dg.DagsterInstance, asset: dg.AssetKey, keys: Iterable[str],
                            after: float) -> dict[str, float]:
    """When each of ``asset``'s ``keys`` that has one was last materialized, counting materializations after
    ``after``."""
    found: dict[str, float] = {}
    records_filter = dg.AssetRecordsFilter(asset_key=asset, asset_partitions=sorted(keys), after_timestamp=after)
    cursor = None
    while True:
        result = instance.fetch_materializations(records_filter, limit=1000, cursor=cursor)
        for record in result.records:
            if record.partition_key is not None:
                found[record.partition_key] = max(found.get(record.partition_key, record.timestamp), record.timestamp)
        if not result.has_more:
            return found
        cursor = result.cursor


def in_flight(instance: dg.DagsterInstance, asset: dg.AssetKey, job_name: str,
              partitions: dg.PartitionsDefinition) -> set[str]:
    """The partitions of ``asset`` that unfinished runs (of ``job_name``, or selecting ``asset``) are working on."""
    records = instance.get_run_records(dg.RunsFilter(
        statuses=[status for status in dg.DagsterRunStatus if status not in _FINISHED]))
    return {key for record in records if _targets(record.dagster_run, asset, job_name)
            for key in run_partitions(dict(record.dagster_run.tags), partitions)}


def _targets(run: dg.DagsterRun, asset: dg.AssetKey, job_name: str) -> bool:
    """Whether ``run`` materializes ``asset``: a run of ``job_name``, or one whose selection holds the asset."""
    return run.job_name == job_name or asset in (run.asset_selection or ())


def failed_partitions(instance: dg.DagsterInstance, asset: dg.AssetKey, job_name: str,
                      partitions: dg.PartitionsDefinition, limit: int) -> list[str]:
    """Up to ``limit`` partitions of ``asset`` whose latest run failed, newest failure first.

    Read from the newest :data:`RECENT_FAILED_RUNS` failed runs that target the asset, or that name no asset
    selection (an ad hoc job's run, such as ``dg.materialize``'s): a partition of one of them is failed
    unless it was materialized after that run began, and when the run named no selection, unless Dagster
    says otherwise (its status of those few partitions). An older failure is found by the sensor's sweep
    instead, which compares every vendor file with the lake.
    """
    since: dict[str, float] = {}
    unsure: set[str] = set()
    for record in instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]),
                                           limit=RECENT_FAILED_RUNS):
        run = record.dagster_run
        if _targets(run, asset, job_name) or not run.asset_selection:
            for key in run_partitions(dict(run.tags), partitions):
                since.setdefault(key, began(record))
                if not _targets(run, asset, job_name):
                    unsure.add(key)
    if not since:
        return []
    latest = latest_materializations(instance, asset, since, min(since.values()))
    failed = [key for key, time in since.items() if latest.get(key, float("-inf")) < time]
    status = instance.get_status_by_partition(asset, sorted(unsure & set(failed)), partitions) if unsure else {}
    return [key for key in failed
            if key not in unsure or (status or {}).get(key) == dg.AssetPartitionStatus.FAILED][:limit]


def latest_records(instance: dg.DagsterInstance, asset: dg.AssetKey,
                   keys: Sequence[str]) -> dict[str, dg.EventLogRecord]:
    """The latest materialization record of each of ``asset``'s ``keys`` that has one, by the instance's records
    (newest first, read until every key is found)."""
    found: dict[str, dg.EventLogRecord] = {}
    if not keys:
        return found
    records_filter, cursor = dg.AssetRecordsFilter(asset_key=asset, asset_partitions=list(keys)), None
    while True:
        result = instance.fetch_materializations(records_filter, cursor=cursor,
                                                 limit=min(MAX_RECORDS_PER_QUERY, max(100, 2 * len(keys))))
        for record in result.records:
            if record.partition_key is not None:
                found.setdefault(record.partition_key, record)
        if not result.has_more or len(found) == len(set(keys)):
            return found
        cursor = result.cursor


def latest_partition_metadata(instance: dg.DagsterInstance, asset: dg.AssetKey,
                              keys: Sequence[str]) -> dict[str, Mapping[str, dg.MetadataValue]]:
    """The metadata of the latest materialization of each of ``asset``'s ``keys`` that has one, by the
    instance's records."""
    return {key: record.asset_materialization.metadata
            for key, record in latest_records(instance, asset, keys).items() if record.asset_materialization}


def record_again(instance: dg.DagsterInstance, spec: DatasetSpec, asset: dg.AssetKey, keys: Sequence[str],
                 why: str) -> None:
    """Tell Dagster again that ``asset``'s ``keys`` are materialized, as their latest materialization said, with
    ``why`` as the action; a curated partition's check verdicts are recorded again against the new record.

    For partitions a run failed on although the lake holds them as they were (the sensor decides that from S3):
    the UI shows them materialized again, with their checks, instead of failed by a run that changed nothing.
    """
    before = latest_records(instance, asset, keys)
    for key in keys:
        materialization = before[key].asset_materialization if key in before else None
        metadata = {**(materialization.metadata if materialization else {}), "action": dg.MetadataValue.text(why)}
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=asset, partition=key, metadata=metadata))
    again = latest_records(instance, asset, keys)
    for key in keys:
        if key in before and key in again:
            for evaluation in recorded_again(spec, asset, key, before[key], again[key]):
                instance.report_runless_asset_event(evaluation)


def log_healing(log: dg.DagsterLogManager, spec: DatasetSpec, plan: HealPlan, now: float) -> None:
    """Say in the tick's log why partitions that failed are, or are not yet, requested again."""
    for retry in plan.retries:
        why = ("its run succeeded, but the lake needs it again (changed or deleted since)" if retry.lost
               else f"attempt {retry.attempt} of {HEALING.max_attempts}: its runs failed and it is still missing")
        log.info("%s: requesting %s..%s again (%s)", spec.name, retry.keys[0], retry.keys[-1], why)
    for history, due in plan.waiting:
        log.info("%s: %s failed %d time(s); next attempt in %.0f s", spec.name, history.span, history.attempts,
                 due - now)
    for history in plan.given_up:
        why = "its input can never succeed" if history.permanent else f"it failed {history.attempts} times"
        log.warning("%s: %s is not requested again until its input changes: %s", spec.name, history.span, why)

