"""Datasets declared once (:class:`DatasetSpec`), from which every Dagster definition is built."""

from lake_assets.lake.datasets.catalog import DATASETS, DAY_AGGS, NODAL_PRICES
from lake_assets.lake.datasets.spec import DatasetSpec

__all__ = ["DATASETS", "DAY_AGGS", "NODAL_PRICES", "DatasetSpec"]
