"""Whether anything is left for the daemon to do on the lake: when ``lake run`` need not wait out its quiet window.

The quiet window (:data:`~lake_assets.cli.daemon.QUIET_SECONDS`) is the rule that needs no knowledge of the lake:
no run for longer than every sensor's interval and the backfill daemon's. Waiting it out is pure delay when the
lake and the instance already show that no sensor has anything left to ask for, which :func:`what_is_left` judges
with the sensors' own verdicts:

- no published day is missing or outdated (:func:`~lake_assets.lake.coverage.day_verdict`, the verdict the
  missing-partition sensor plans with), and Dagster records every partition from the first to the last published
  day (closed days included), none of them failed (a day given up is one);
- every month's summary is current (:func:`~lake_assets.lake.planning.plan_rollups`, the rollup sensor's planner);
- each dataset's due check ran after the curated asset's newest record (what the freshness sensor waits for);
- every partition of an asset with an automation condition whose inputs are all materialized was made, not
  failed, by a run that began after they were last made, or that made them too when Dagster can see it did (what
  ``keep_current()`` asks: :func:`stale_partitions` says which it will still request).

Anything it cannot judge (an input mapped other than by a time window over the same partitions, for one) counts
as something left, so the quiet window decides, as it does after a failed run or a day given up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import dagster as dg

from lake_assets.cli.main_job import dataset_coverage
from lake_assets.cli.target import Target
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.planning import plan_rollups
from lake_assets.orchestration.component import declared_datasets
from lake_assets.orchestration.factory import due_job_name, ingest_job_name, rollup_job_name
from lake_assets.s3 import S3Handler

#: Records read from the instance per request.
PAGE = 1000


@dataclass(frozen=True)
class Made:
    """A partition's latest materialization: which run made it, when, and its place in the event log."""

    run_id: str
    timestamp: float
    storage_id: int = 0


class Materializations:
    """The latest materialization of each partition of some assets, read from the instance as it grows (each
    :meth:`refresh` reads only the records after the last one it read)."""

    def __init__(self, instance: dg.DagsterInstance, keys: Iterable[dg.AssetKey]) -> None:
        self._instance = instance
        self._after = dict.fromkeys(keys, 0)
        self.latest: dict[dg.AssetKey, dict[str, Made]] = {key: {} for key in self._after}

    def refresh(self) -> None:
        """Read the records made since the last refresh."""
        for key, after in self._after.items():
            while True:
                page = self._instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=PAGE, ascending=True)
                for record in page.records:
                    if record.partition_key:
                        self.latest[key][record.partition_key] = Made(record.run_id, record.timestamp,
                                                                      record.storage_id)
                    after = max(after, record.storage_id)
                if not page.has_more:
                    break
            self._after[key] = after


def input_window(spec: dg.AssetSpec, dep: dg.AssetDep, upstream: dg.AssetSpec) -> tuple[int, int] | None:
    """The partitions of ``upstream`` a partition of ``spec`` reads, as offsets from its own position (both assets
    on the same time partitions, mapped one to one or by a time window); None for any other mapping."""
    if spec.partitions_def is None or spec.partitions_def != upstream.partitions_def:
        return None
    mapping = dep.partition_mapping
    if mapping is None or isinstance(mapping, dg.IdentityPartitionMapping):
        return 0, 0
    if isinstance(mapping, dg.TimeWindowPartitionMapping):
        return mapping.start_offset, mapping.end_offset
    return None


def stale_partitions(keys: Sequence[str], made: Mapping[str, Made], inputs: Sequence[tuple[Mapping[str, Made],
                     tuple[int, int]]], started: Mapping[str, float]) -> list[str]:
    """The partitions among ``keys`` whose inputs are all materialized (each input: its partitions' latest
    materializations, and the window a partition reads) but which ``keep_current()`` will still request: missing,
    made by a run that began before an input's latest materialization (``started``: runs' start times), or made by
    the run that made an input that is not that input asset's newest materialization (Dagster 1.13's
    ``executed_with_root_target`` sees only the newest, so it requests such a partition once more)."""
    stale = []
    newest = [max((m.storage_id for m in upstream.values()), default=0) for upstream, _ in inputs]
    for position, key in enumerate(keys):
        mine = made.get(key)
        for (upstream, (start, end)), last in zip(inputs, newest, strict=True):
            window = [upstream.get(k) for k in keys[max(0, position + start):position + end + 1]]
            if any(m is None for m in window):
                break
            if mine is None or any(_requested_again(m, mine, last, started) for m in window if m is not None):
                stale.append(key)
                break
    return stale


def _requested_again(read: Made, mine: Made, newest: int, started: Mapping[str, float]) -> bool:
    """Whether an input's latest materialization ``read`` makes ``keep_current()`` request a partition whose latest
    materialization is ``mine`` (``newest``: the input asset's newest record)."""
    if read.run_id == mine.run_id:
        return read.storage_id != newest
    return read.timestamp > started.get(mine.run_id, 0.0)


def automated_left(defs: dg.Definitions, instance: dg.DagsterInstance, records: Materializations) -> list[str]:
    """What the automation sensor may still ask for: per asset with an automation condition, its stale or failed
    partitions, or why it cannot be judged."""
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    left = []
    for spec in specs.values():
        if spec.automation_condition is None:
            continue
        windows = [(dep.asset_key, input_window(spec, dep, specs[dep.asset_key])) for dep in spec.deps
                   if dep.asset_key in specs]
        if spec.partitions_def is None or any(window is None for _, window in windows):
            left.append(f"{spec.key.to_user_string()}: an input this check cannot map")
            continue
        keys = spec.partitions_def.get_partition_keys()
        made = records.latest[spec.key]
        started = run_starts(instance, {m.run_id for m in made.values()})
        stale = stale_partitions(keys, made, [(records.latest[key], window) for key, window in windows if window],
                                 started)
        failed = failed_in_dagster(instance, spec.key, keys, spec.partitions_def)
        if stale or failed:
            left.append(f"{spec.key.to_user_string()}: {len(stale)} partition(s) to make, {len(failed)} failed")
    return left


def run_starts(instance: dg.DagsterInstance, run_ids: Iterable[str]) -> dict[str, float]:
    """When each of ``run_ids`` began (POSIX seconds)."""
    ids, starts = sorted(run_ids), {}
    for first in range(0, len(ids), PAGE):
        for record in instance.get_run_records(dg.RunsFilter(run_ids=ids[first:first + PAGE])):
            starts[record.dagster_run.run_id] = record.start_time or record.create_timestamp.timestamp()
    return starts


def failed_in_dagster(instance: dg.DagsterInstance, asset: dg.AssetKey, keys: Sequence[str],
                      partitions: dg.PartitionsDefinition) -> list[str]:
    """The partitions among ``keys`` whose latest run failed to make ``asset``, as Dagster shows them."""
    status = instance.get_status_by_partition(asset, list(keys), partitions) or {}
    return [key for key, value in status.items() if value == dg.AssetPartitionStatus.FAILED]


def dataset_left(spec: DatasetSpec, target: Target, defs: dg.Definitions, instance: dg.DagsterInstance,
                 records: Materializations) -> list[str]:
    """What a dataset's sensors may still ask for: missing or unrecorded days, out-of-date months, a due check that
    has not judged the newest record."""
    curated = dg.AssetKey([spec.name, "curated"])
    partitions = defs.resolve_job_def(ingest_job_name(spec)).partitions_def
    keys = partitions.get_partition_keys()
    vendor_bucket, lake_bucket = target.bucket("VENDOR_S3"), target.bucket("LAKE_S3")
    with S3Handler(target.transfer_config("VENDOR_S3")) as vendor, S3Handler(target.transfer_config("LAKE_S3")) as lake:
        found = dataset_coverage(spec, keys, (vendor, vendor_bucket), (lake, lake_bucket), instance)
        months = plan_rollups(spec, lake.iter_objects(lake_bucket, spec.curated.listing_prefix),
                              lake.iter_objects(lake_bucket, spec.rollup_prefix + "/"),
                              defs.resolve_job_def(rollup_job_name(spec)).partitions_def.get_partition_keys())
    published = [key for key in keys if found.first and found.first <= key <= (found.last or "")]
    unrecorded = [key for key in published if key not in records.latest[curated]]
    failed = failed_in_dagster(instance, curated, published, partitions)
    newest = max((m.timestamp for m in records.latest[curated].values()), default=0.0)
    judged = instance.get_run_records(dg.RunsFilter(job_name=due_job_name(spec),
                                                    statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1)
    due_judged = not newest or (bool(judged) and (judged[0].start_time or 0.0) >= newest)
    left = [f"{count} {what}" for count, what in ((len(found.missing), "day(s) missing"),
                                                  (len(unrecorded), "day(s) not recorded in Dagster"),
                                                  (len(failed), "day(s) failed in Dagster"),
                                                  (len(months), "rollup range(s) out of date")) if count]
    stale_due = [] if due_judged else ["the due check has not run since the newest record"]
    return [f"{spec.name}: {item}" for item in [*left, *stale_due]]


def what_is_left(target: Target, defs: dg.Definitions, instance: dg.DagsterInstance,
                 records: Materializations) -> list[str]:
    """What any sensor may still ask for on the lake, one line each; empty when nothing is."""
    records.refresh()
    return [*(item for spec in declared_datasets() for item in dataset_left(spec, target, defs, instance, records)),
            *automated_left(defs, instance, records)]


def watched_assets(defs: dg.Definitions) -> list[dg.AssetKey]:
    """The assets :class:`Materializations` reads for :func:`what_is_left`: each dataset's curated asset, and the
    assets with an automation condition and their inputs."""
    automated = [spec for spec in defs.resolve_all_asset_specs() if spec.automation_condition is not None]
    return sorted({*(dg.AssetKey([spec.name, "curated"]) for spec in declared_datasets()),
                   *(spec.key for spec in automated), *(dep.asset_key for spec in automated for dep in spec.deps)},
                  key=lambda key: key.to_user_string())
