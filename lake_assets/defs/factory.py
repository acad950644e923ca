"""One dataset spec in, all of its Dagster definitions out."""

from __future__ import annotations

import dagster as dg

from lake_assets.defs.assets import build_curated_asset, build_raw_asset, build_rollup_asset
from lake_assets.defs.partitions import daily_partitions, monthly_partitions
from lake_assets.defs.schedules import build_daily_schedule
from lake_assets.defs.sensors import build_missing_partitions_sensor
from lake_assets.lake.datasets import DatasetSpec


def ingest_job_name(spec: DatasetSpec) -> str:
    """Name of the job that materialises a dataset's raw and curated partitions."""
    return f"{spec.name}_ingest"


def rollup_job_name(spec: DatasetSpec) -> str:
    """Name of the job that materialises a dataset's monthly summary."""
    return f"{spec.name}_monthly"


def build_dataset_defs(spec: DatasetSpec) -> dg.Definitions:
    """Build the raw, curated and monthly assets, checks, ingest job, schedule and sensor of ``spec``."""
    days = daily_partitions(spec)
    raw = build_raw_asset(spec, days)
    curated = build_curated_asset(spec, days, raw)
    monthly = build_rollup_asset(spec, monthly_partitions(spec), curated)
    job = dg.define_asset_job(ingest_job_name(spec), selection=dg.AssetSelection.assets(raw, curated),
                              description=f"Mirror and curate {spec.name} partitions.")
    rollup = dg.define_asset_job(rollup_job_name(spec), selection=dg.AssetSelection.assets(monthly),
                                 description=f"Summarise a month of {spec.name}.")
    return dg.Definitions(
        assets=[raw, curated, monthly],
        jobs=[job, rollup],
        schedules=[build_daily_schedule(spec, job.name, days)],
        sensors=[build_missing_partitions_sensor(spec, job.name, days)],
    )
