"""The main job's setup: the buckets and sample it uses, its environment, and the lake's coverage."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import dagster as dg

from lake_assets.cli.env_file import LAKE_BUCKET, VENDOR_BUCKET, dagster_env, is_setting
from lake_assets.cli.sample import publish_sample
from lake_assets.defs.factory import ingest_job_name
from lake_assets.defs.settings import SettingError
from lake_assets.lake.coverage import Coverage, coverage
from lake_assets.lake.datasets import DATASETS
from lake_assets.local_s3 import EmbeddedS3
from lake_assets.s3 import S3Handler

#: The generated vendor sample: one quarter of publishing days.
SAMPLE_START, SAMPLE_END = date(2024, 1, 1), date(2024, 3, 31)


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


def publish_vendor_sample(server: EmbeddedS3) -> int:
    """Publish the sample quarter into the vendor bucket; return how many files were new."""
    with S3Handler(server.transfer_config(show_progress=False)) as vendor:
        return publish_sample(vendor, VENDOR_BUCKET, DATASETS, SAMPLE_START, SAMPLE_END)


def lake_coverage(server: EmbeddedS3, defs: dg.Definitions) -> list[Coverage]:
    """Return every dataset's coverage, from one listing of its vendor prefix and its curated prefix."""
    with S3Handler(server.transfer_config(show_progress=False)) as s3:
        return [coverage(spec, defs.resolve_job_def(ingest_job_name(spec)).partitions_def.get_partition_keys(),
                         s3.iter_objects(VENDOR_BUCKET, spec.source.static_prefix),
                         s3.iter_objects(LAKE_BUCKET, spec.curated.listing_prefix),
                         s3.iter_objects(LAKE_BUCKET, spec.quarantine.listing_prefix)) for spec in DATASETS]
