"""Datasets declared once (:class:`DatasetSpec`), from which every Dagster definition is built; which ones a
project builds is declared in its defs folder (:mod:`lake_assets.lake.datasets.config`)."""

from lake_assets.lake.datasets.catalog import DAY_AGGS, NODAL_PRICES
from lake_assets.lake.datasets.spec import DatasetSpec

__all__ = ["DAY_AGGS", "NODAL_PRICES", "DatasetSpec"]
