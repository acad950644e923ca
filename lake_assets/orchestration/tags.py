"""The run tags the lake reads and writes, and how a request for partitions becomes one: the one place both live.

Dagster's reserved tags are named here only: the lake reads them (which sensor made a run, its partition or range,
whether it re-executes another) and writes the range tags of a range run, since 1.13's ``RunRequest`` has no
public range parameter (its ``partition_key_range`` reads these very tags). Its own tags say which request a run
belongs to and which attempt it is (whether it failed on input no retry can fix is an observation of the day:
:data:`~lake_assets.orchestration.healing.PERMANENT_FAILURE`).
"""

from __future__ import annotations

import dagster as dg

from lake_assets.lake.healing import Retry
from lake_assets.lake.planning import PartitionRun
from lake_assets.orchestration.partitions import range_keys

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"
SENSOR_TAG = "dagster/sensor_name"
PARENT_RUN_TAG = "dagster/parent_run_id"
REQUEST_TAG, ATTEMPT_TAG = "lake/request", "lake/attempt"
#: Run tag of every ingest run: the dataset, by which the run queue runs one ingest run of a dataset at a time.
DATASET_TAG = "lake/dataset"


def range_tags(keys: tuple[str, ...]) -> dict[str, str]:
    """The tags that make a run of ``keys`` (neighbouring partitions, more than one) a range run."""
    return {RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]}


def run_request(keys: tuple[str, ...], request: str, attempt: int, run_key: str) -> dg.RunRequest:
    """A request for one partition, or for a range run, tagged with the request it belongs to and its attempt."""
    tags = {REQUEST_TAG: request, ATTEMPT_TAG: str(attempt)}
    if len(keys) == 1:
        return dg.RunRequest(run_key=run_key, partition_key=keys[0], tags=tags)
    return dg.RunRequest(run_key=run_key, tags={**tags, **range_tags(keys)})


def first_request(run: PartitionRun) -> dg.RunRequest:
    """The first run of a planned request: its run key names the request."""
    return run_request(run.keys, run.run_key, 1, run.run_key)


def retry_request(retry: Retry) -> dg.RunRequest:
    """A further run of a request whose runs failed."""
    return run_request(retry.keys, retry.request, retry.attempt, retry.run_key)


def run_partitions(tags: dict[str, str], partitions: dg.PartitionsDefinition) -> tuple[str, ...]:
    """The partition keys a run covers, from its partition or range tags."""
    if tags.get(RANGE_START_TAG):
        return range_keys(partitions, tags[RANGE_START_TAG], tags[RANGE_END_TAG])
    return (tags[PARTITION_TAG],) if tags.get(PARTITION_TAG) else ()

