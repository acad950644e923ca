"""The main job's setup: the buckets and sample it uses, its environment, and the lake's coverage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timezone
from pathlib import Path

import dagster as dg

from lake_assets.cli.env_file import LAKE_BUCKET, VENDOR_BUCKET, dagster_env
from lake_assets.cli.sample import GENERATORS, publish_sample
from lake_assets.cli.target import Target, use
from lake_assets.lake.coverage import Coverage, by_partition, coverage
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.due import DueVerdict, judge_due, newest_due_day
from lake_assets.lake.layout import partition_date, partition_key
from lake_assets.lake.steps import Store, mirrored_etag
from lake_assets.local_s3 import EmbeddedS3
from lake_assets.orchestration.component import declared_datasets
from lake_assets.orchestration.factory import ingest_job_name
from lake_assets.orchestration.freshness import GRACE
from lake_assets.orchestration.sensor_reads import given_up_days
from lake_assets.s3 import S3Handler


def activate(server: EmbeddedS3, dagster_home: Path) -> None:
    """Point this process's Dagster resources and instance at the embedded server (its buckets created) and at
    ``dagster_home``, as ``lake run`` does when no lake is configured."""
    server.ensure_buckets(VENDOR_BUCKET, LAKE_BUCKET)
    use(Target(dagster_env(server, dagster_home), server, f"the embedded S3 at {server.endpoint_url}",
               configured=False))


def sample_end(spec: DatasetSpec, now: datetime, until: date | None) -> date | None:
    """The last day of ``spec``'s generated sample: its newest day due at ``now`` (a vendor that is up to date, so
    the demo's lake is complete and fresh), or ``until`` when that is earlier (a vendor that lags)."""
    due = newest_due_day(spec, now)
    return min(due, until) if due and until else due


def publish_vendor_sample(target: Target, until: date | None) -> dict[str, tuple[date, date, int]]:
    """Publish each sampled dataset's vendor files from its start date to :func:`sample_end` into the target's vendor
    bucket; return, by dataset, the first and last day published and how many files were new."""
    now = datetime.now(timezone.utc)
    published: dict[str, tuple[date, date, int]] = {}
    with S3Handler(target.transfer_config("VENDOR_S3")) as vendor:
        for spec in declared_datasets():
            if spec.name in GENERATORS and (end := sample_end(spec, now, until)) is not None:
                published[spec.name] = (spec.start_date, end, publish_sample(
                    vendor, target.bucket("VENDOR_S3"), [spec], spec.start_date, end))
    return published


def lake_coverage(target: Target, defs: dg.Definitions, instance: dg.DagsterInstance | None) -> list[Coverage]:
    """Return every dataset's coverage (:func:`dataset_coverage`)."""
    vendor_bucket, lake_bucket = target.bucket("VENDOR_S3"), target.bucket("LAKE_S3")
    with S3Handler(target.transfer_config("VENDOR_S3")) as vendor, S3Handler(target.transfer_config("LAKE_S3")) as lake:
        return [dataset_coverage(spec, defs.resolve_job_def(ingest_job_name(spec)).partitions_def.get_partition_keys(),
                                 (vendor, vendor_bucket), (lake, lake_bucket), instance)
                for spec in declared_datasets()]


def dataset_coverage(spec: DatasetSpec, keys: Sequence[str], vendor: tuple[S3Handler, str], lake: tuple[S3Handler, str],
                     instance: dg.DagsterInstance | None) -> Coverage:
    """One dataset's coverage over its partition ``keys``, from one listing of its vendor prefix and of its curated
    and quarantine prefixes (each a handler and its bucket), and the instance's record of the days the healing gave
    up (none without an instance: nothing ran yet)."""
    (source, source_bucket), (store, bucket) = vendor, lake
    listings = (list(source.iter_objects(source_bucket, spec.source.static_prefix)),
                list(store.iter_objects(bucket, spec.curated.listing_prefix)),
                list(store.iter_objects(bucket, spec.quarantine.listing_prefix)))
    row = coverage(spec, keys, *listings)
    if instance is None:
        return row
    raw = Store(store, bucket)
    given_up = given_up_days(instance, spec, row.missing, by_partition(listings[0], spec.source.date_of),
                             lambda key: mirrored_etag(spec, partition_date(key), raw))
    return coverage(spec, keys, *listings, given_up) if given_up else row


def due_verdicts(target: Target, defs: dg.Definitions, instance: dg.DagsterInstance) -> dict[str, DueVerdict]:
    """Each dataset's due verdict now, as its ``newest_partition_due`` check gives it (:func:`judge_due`, on the
    same listings and Dagster's status of the day): what ``lake run`` prints once the lake has settled."""
    vendor_bucket, lake_bucket = target.bucket("VENDOR_S3"), target.bucket("LAKE_S3")
    verdicts: dict[str, DueVerdict] = {}
    with S3Handler(target.transfer_config("VENDOR_S3")) as vendor, S3Handler(target.transfer_config("LAKE_S3")) as lake:
        for spec in declared_datasets():
            asset = dg.AssetKey([spec.name, "curated"])
            day = newest_due_day(spec, datetime.now(timezone.utc) - GRACE)
            status = (instance.get_status_by_partition(asset, [partition_key(day)], defs.resolve_assets_def(
                asset).partitions_def) or {}).get(partition_key(day)) if day else None
            verdicts[spec.name] = judge_due(
                spec, day, status.value.lower() if status else None,
                by_partition(vendor.iter_objects(vendor_bucket, spec.source.static_prefix), spec.source.date_of),
                by_partition(lake.iter_objects(lake_bucket, spec.curated.listing_prefix), spec.curated.date_of))
    return verdicts
