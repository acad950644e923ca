"""The Dagster code location: assembles what ``lake_assets.defs`` builds from the dataset specs.

Connection settings are resolved at run time from ``VENDOR_S3_*`` and ``LAKE_S3_*`` environment
variables (see :func:`~lake_assets.defs.resources.s3_resource_from_env`); nothing is read at import.
"""

import dagster as dg

from lake_assets.defs.factory import build_dataset_defs
from lake_assets.defs.io_manager import LakeParquetIOManager
from lake_assets.defs.resources import s3_resource_from_env
from lake_assets.lake.datasets import DATASETS

_lake_s3 = s3_resource_from_env("LAKE_S3")

defs = dg.Definitions.merge(
    *(build_dataset_defs(spec) for spec in DATASETS),
    dg.Definitions(resources={"vendor_s3": s3_resource_from_env("VENDOR_S3"), "lake_s3": _lake_s3,
                              "io_manager": LakeParquetIOManager(lake_s3=_lake_s3)}),
)
