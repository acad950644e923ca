"""The resources every definition shares, and the executor every run uses.

Connection settings are resolved at run time from ``VENDOR_S3_*`` and ``LAKE_S3_*`` environment variables, only
the two ``*_BUCKET`` ones required (:mod:`lake_assets.orchestration.settings`; Dagster's commands also read them
from ``.env``). Every run executes its steps in its own process, one after another (``in_process_executor``): a
range run's partitions are already parallel inside its steps, and a process per step cost a year's backfill twice
the time (``bench/daemon_backfill.py``, ``bench/RESULTS.md``). Runs log to the console through
:func:`~lake_assets.orchestration.console.console_logger`, which prints each failure's stack trace once.
"""

import dagster as dg

from lake_assets.orchestration.console import console_logger
from lake_assets.orchestration.io_manager import LakeParquetIOManager
from lake_assets.orchestration.resources import s3_resource_from_env


@dg.definitions
def resources() -> dg.Definitions:
    """The vendor's and the lake's S3 resources, the lake's IO manager on the latter, the executor, and the console
    logger (each failure's stack trace printed once)."""
    lake_s3 = s3_resource_from_env("LAKE_S3")
    return dg.Definitions(resources={"vendor_s3": s3_resource_from_env("VENDOR_S3"), "lake_s3": lake_s3,
                                     "io_manager": LakeParquetIOManager(lake_s3=lake_s3)},
                          executor=dg.in_process_executor, loggers={"console": console_logger})
