"""What the missing-partition sensor reads besides its two listings: the curated objects of its window and of
what is new, the closed days Dagster has not recorded, curated objects altered outside the lake's runs, and the
failed days (corrected by the vendor, held curated by the lake, or waiting for the vendor). S3 and Dagster's
records in; what they say, for :mod:`lake_assets.lake.planning`'s pure functions."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from lake_assets.lake.calendars import closed_weekdays
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.layout import partition_date, partition_key
from lake_assets.lake.planning import PlanCursor, altered, written_since
from lake_assets.lake.steps import Store, mirrored_etag
from lake_assets.orchestration.healing import failed_for_good_days, failed_partitions, latest_records
from lake_assets.s3 import ObjectInfo, S3Handler
from lake_assets.s3.listing import LIST_PAGE_SIZE

#: Most failed partitions a tick asks the vendor and raw zone about (a HEAD each), to find corrected files.
MAX_RECHECKS = 50


@dataclass(frozen=True)
class FailedDays:
    """The days whose latest run failed (by asset, raw and curated, newest failure first, at most
    :data:`MAX_RECHECKS` each), the vendor's file of each now, the vendor ETag the raw zone mirrored of each
    curated one, and those that wait for the vendor: failed for good on the file it still publishes."""

    failed: dict[dg.AssetKey, list[str]]
    sources: dict[str, ObjectInfo | None]
    mirrored: dict[str, str | None]
    waiting: set[str]


def failed_days(instance: dg.DagsterInstance, spec: DatasetSpec, job_name: str, partitions: dg.PartitionsDefinition,
                vendor: S3Handler, vendor_bucket: str, store: Store) -> FailedDays:
    """What a tick needs to know of the failed days (a HEAD of the vendor and of the raw zone for each): a day that
    waits for the vendor is not planned again, however a sweep cuts its neighbours into ranges."""
    assets = (dg.AssetKey([spec.name, "curated"]), dg.AssetKey([spec.name, "raw"]))
    failed = {asset: failed_partitions(instance, asset, job_name, partitions, MAX_RECHECKS) for asset in assets}
    sources = {key: vendor.find(vendor_bucket, spec.source.key(partition_date(key))) for keys in failed.values()
               for key in keys}
    mirrored = {key: mirrored_etag(spec, partition_date(key), store) for key in failed[assets[0]]}
    return FailedDays(failed, sources, mirrored, given_up_days(instance, spec, list(mirrored), sources, mirrored.get))


def given_up_days(instance: dg.DagsterInstance, spec: DatasetSpec, keys: Sequence[str],
                  sources: Mapping[str, ObjectInfo | None], mirrored: Callable[[str], str | None]) -> set[str]:
    """Those of ``keys`` the healing gave up on the vendor's current file (``sources``, by partition): failed for
    good (Dagster's record), and the raw zone mirrors (``mirrored``: its vendor ETag, by partition) the file the
    vendor still publishes. A new file makes the day a new request: no longer given up."""
    failed = failed_for_good_days(instance, (dg.AssetKey([spec.name, "curated"]), dg.AssetKey([spec.name, "raw"])),
                                  keys)
    return {key for key in failed if (info := sources.get(key)) is not None and info.etag == mirrored(key)}


def recorded_etags(instance: dg.DagsterInstance, curated: dg.AssetKey,
                   etags: dict[str, str | None]) -> dict[str, str | None]:
    """The curated objects' vendor ETags (``etags``, by partition) that Dagster's latest materialization of the
    partition records too: only such a day can be recorded again from its last record, which describes it."""
    recorded = latest_records(instance, curated, sorted(etags))
    found = {key: record.asset_materialization.metadata.get("source_etag") if record.asset_materialization else None
             for key, record in recorded.items()}
    return {key: etag for key, etag in etags.items()
            if etag is not None and (value := found.get(key)) is not None and str(value.value) == etag}


def altered_objects(instance: dg.DagsterInstance, spec: DatasetSpec, curated: dg.AssetKey,
                    objects: list[ObjectInfo], since: float) -> dict[str, str]:
    """The curated partitions whose object, written since ``since`` (:func:`~lake_assets.lake.sweep.sweep_since`),
    is newer than Dagster's latest record of it: altered outside the lake's runs, to be made again. Only the objects
    written since then are looked up in the instance (every object once, on a sensor's first sweep)."""
    written = written_since(spec, objects, since)
    records = latest_records(instance, curated, sorted(written))
    return altered(written, {key: record.timestamp for key, record in records.items()})


def curated_objects(spec: DatasetSpec, lake: S3Handler, bucket: str, after: str | None, through: str | None,
                    page_size: int = LIST_PAGE_SIZE) -> list[ObjectInfo]:
    """The curated zone's objects for the days after source key ``after``'s (from the first when None) through
    source key ``through``'s (to the last when None)."""
    start = spec.curated.key(spec.source.date_of(after)) if after else None
    listing = lake.iter_objects(bucket, spec.curated.listing_prefix, start_after=start, page_size=page_size)
    if through is None:
        return list(listing)
    last = spec.curated.key(spec.source.date_of(through))
    return list(itertools.takewhile(lambda info: info.key <= last, listing))


def read_days(spec: DatasetSpec, keys: Sequence[str], cursor: PlanCursor,
              window: Sequence[ObjectInfo]) -> list[tuple[date, date]]:
    """The days a tick reads, as spans: its window's (after the sweep's position, through the window's last file),
    and those after the cursor."""
    if not keys:
        return []
    spans = []
    if window:
        spans.append((spec.source.date_of(cursor.sweep) + timedelta(days=1) if cursor.sweep
                      else partition_date(keys[0]), spec.source.date_of(window[-1].key)))
    if cursor.after:
        spans.append((spec.source.date_of(cursor.after) + timedelta(days=1), partition_date(keys[-1])))
    return spans


def unrecorded_closed_days(instance: dg.DagsterInstance, spec: DatasetSpec, curated: dg.AssetKey,
                           spans: Sequence[tuple[date, date]]) -> list[str]:
    """The partitions in ``spans`` (the days a tick reads) that the calendar closes and Dagster has not recorded (as
    closed, or curated from a file the vendor published anyway); asked of the instance at once."""
    closed = [partition_key(day) for first, last in spans for day in closed_weekdays(spec.calendar, first, last)]
    recorded = latest_records(instance, curated, closed) if closed else {}
    return [key for key in closed if key not in recorded]
