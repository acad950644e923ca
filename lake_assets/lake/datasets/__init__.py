"""Datasets declared once (:class:`DatasetSpec`), from which every Dagster definition is built; which ones the
code location builds is configured in ``datasets.toml`` (:mod:`lake_assets.lake.datasets.config`)."""

from lake_assets.lake.datasets.catalog import DAY_AGGS, NODAL_PRICES
from lake_assets.lake.datasets.config import load_datasets
from lake_assets.lake.datasets.spec import DatasetSpec

#: Every dataset the Dagster definitions are built from.
DATASETS: tuple[DatasetSpec, ...] = load_datasets()

__all__ = ["DATASETS", "DAY_AGGS", "NODAL_PRICES", "DatasetSpec"]
