"""The Dagster code location: the datasets' definitions, the assets built on them, and the shared resources.

What ``lake_assets.defs`` builds from the dataset specs, every asset in the modules of
:mod:`lake_assets.analytics`, the automation sensor that keeps those current, and the resources.
Every run executes its steps in its own process, one after another (``in_process_executor``): a range
run's partitions are already parallel inside its steps, and a process per step cost a year's
backfill twice the time (``bench/daemon_backfill.py``, ``bench/RESULTS.md``).
Connection settings are resolved at run time from ``VENDOR_S3_*`` and ``LAKE_S3_*`` environment
variables, only the two ``*_BUCKET`` ones required (:mod:`lake_assets.defs.settings`; Dagster's
commands also read them from ``.env``); nothing is read at import.
"""

import dagster as dg

from lake_assets import analytics
from lake_assets.defs.automation import build_automation_sensor
from lake_assets.defs.factory import build_dataset_defs
from lake_assets.defs.io_manager import LakeParquetIOManager
from lake_assets.defs.resources import s3_resource_from_env
from lake_assets.lake.datasets import DATASETS

_lake_s3 = s3_resource_from_env("LAKE_S3")

defs = dg.Definitions.merge(
    *(build_dataset_defs(spec) for spec in DATASETS),
    dg.Definitions(assets=dg.load_assets_from_package_module(analytics), sensors=[build_automation_sensor()]),
    dg.Definitions(resources={"vendor_s3": s3_resource_from_env("VENDOR_S3"), "lake_s3": _lake_s3,
                              "io_manager": LakeParquetIOManager(lake_s3=_lake_s3)},
                   executor=dg.in_process_executor),
)
