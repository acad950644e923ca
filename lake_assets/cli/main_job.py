"""The main job's setup: the buckets and sample it uses, its environment, and the lake's coverage."""

from __future__ import annotations

import os
from datetime import date, datetime, timezone
from pathlib import Path

import dagster as dg

from lake_assets.cli.env_file import LAKE_BUCKET, VENDOR_BUCKET, dagster_env, is_setting
from lake_assets.cli.sample import GENERATORS, publish_sample
from lake_assets.lake.coverage import Coverage, coverage
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.due import newest_due_day
from lake_assets.local_s3 import EmbeddedS3
from lake_assets.orchestration.component import declared_datasets
from lake_assets.orchestration.factory import ingest_job_name
from lake_assets.orchestration.settings import SettingError
from lake_assets.s3 import S3Handler


def activate(server: EmbeddedS3, dagster_home: Path) -> None:
    """Point this process's Dagster resources and instance at the embedded server and ``dagster_home``.

    Creates the buckets and sets the ``VENDOR_S3_*``, ``LAKE_S3_*`` and ``DAGSTER_HOME`` variables
    that the definitions resolve at run time. A ``VENDOR_S3_*`` or ``LAKE_S3_*`` variable the shell
    set to anything else is refused, not silently replaced: a user who set ``LAKE_S3_BUCKET`` meant it.

    Raises:
        SettingError: naming the shell's variables, and what to do instead.
    """
    wanted = dagster_env(server, dagster_home)
    foreign = sorted(name for name, value in os.environ.items()
                     if is_setting(name) and name != "DAGSTER_HOME" and value and wanted.get(name) != value)
    if foreign:
        raise SettingError(f"this command runs on the embedded S3 server with its own settings, but the environment "
                           f"sets {', '.join(foreign)}: unset them here, or run the code location on your settings "
                           "with `dagster dev` (which reads them, and .env)")
    server.ensure_buckets(VENDOR_BUCKET, LAKE_BUCKET)
    for name in [name for name in os.environ if is_setting(name)]:
        del os.environ[name]
    os.environ.update(wanted)


def sample_end(spec: DatasetSpec, now: datetime, until: date | None) -> date | None:
    """The last day of ``spec``'s generated sample: its newest day due at ``now`` (a vendor that is up to date, so
    the demo's lake is complete and fresh), or ``until`` when that is earlier (a vendor that lags)."""
    due = newest_due_day(spec, now)
    return min(due, until) if due and until else due


def publish_vendor_sample(server: EmbeddedS3, until: date | None) -> dict[str, tuple[date, date, int]]:
    """Publish each sampled dataset's vendor files from its start date to :func:`sample_end`; return, by dataset,
    the first and last day published and how many files were new."""
    now = datetime.now(timezone.utc)
    published: dict[str, tuple[date, date, int]] = {}
    with S3Handler(server.transfer_config(show_progress=False)) as vendor:
        for spec in declared_datasets():
            if spec.name in GENERATORS and (end := sample_end(spec, now, until)) is not None:
                published[spec.name] = (spec.start_date, end,
                                        publish_sample(vendor, VENDOR_BUCKET, [spec], spec.start_date, end))
    return published


def lake_coverage(server: EmbeddedS3, defs: dg.Definitions) -> list[Coverage]:
    """Return every dataset's coverage, from one listing of its vendor prefix and its curated prefix."""
    with S3Handler(server.transfer_config(show_progress=False)) as s3:
        return [coverage(spec, defs.resolve_job_def(ingest_job_name(spec)).partitions_def.get_partition_keys(),
                         s3.iter_objects(VENDOR_BUCKET, spec.source.static_prefix),
                         s3.iter_objects(LAKE_BUCKET, spec.curated.listing_prefix),
                         s3.iter_objects(LAKE_BUCKET, spec.quarantine.listing_prefix)) for spec in declared_datasets()]
