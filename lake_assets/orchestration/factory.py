"""One dataset spec in, all of its Dagster definitions out."""

from __future__ import annotations

import time

import dagster as dg

from lake_assets.lake.datasets import DatasetSpec
from lake_assets.orchestration.assets import build_curated_asset, build_raw_asset
from lake_assets.orchestration.calendar_check import build_off_calendar_check
from lake_assets.orchestration.freshness import build_due_check, build_freshness_sensor
from lake_assets.orchestration.partitions import daily_partitions, monthly_partitions
from lake_assets.orchestration.rollup import build_rollup_asset
from lake_assets.orchestration.schedules import build_due_schedule
from lake_assets.orchestration.sensors import Clock, build_missing_partitions_sensor, build_rollup_sensor
from lake_assets.orchestration.tags import DATASET_TAG


def ingest_job_name(spec: DatasetSpec) -> str:
    """Name of the job that materialises a dataset's raw and curated partitions."""
    return f"{spec.name}_ingest"


def rollup_job_name(spec: DatasetSpec) -> str:
    """Name of the job that materialises a dataset's monthly summary."""
    return f"{spec.name}_monthly"


def due_job_name(spec: DatasetSpec) -> str:
    """Name of the job that checks a dataset's newest due partition."""
    return f"{spec.name}_due_check"


def build_dataset_defs(spec: DatasetSpec, clock: Clock = time.time) -> dg.Definitions:
    """Build the assets, checks, jobs, sensors and schedule of ``spec``.

    What runs when: the missing-partition sensor requests published days (ingest job), the rollup
    sensor requests months whose days changed (monthly job), and the schedule checks, when a day is
    due, that it was curated and that no vendor file is dated on a day the calendar closes (due-check
    job); the freshness sensor runs the same job after the curated asset changed. Sensors and schedule
    are on by default. The sensors read the time from ``clock`` (tests move it instead of sleeping).
    """
    days, months = daily_partitions(spec), monthly_partitions(spec)
    raw = build_raw_asset(spec, days)
    curated = build_curated_asset(spec, days, raw)
    monthly = build_rollup_asset(spec, months, curated)
    due, calendar = build_due_check(spec, days), build_off_calendar_check(spec, days)
    job = dg.define_asset_job(ingest_job_name(spec), selection=dg.AssetSelection.assets(raw, curated)
                              - dg.AssetSelection.checks(due, calendar), tags={DATASET_TAG: spec.name},
                              description=f"Mirror and curate {spec.name} partitions.")
    rollup = dg.define_asset_job(rollup_job_name(spec), selection=dg.AssetSelection.assets(monthly),
                                 description=f"Summarise a month of {spec.name}.")
    due_job = dg.define_asset_job(due_job_name(spec), selection=dg.AssetSelection.checks(due, calendar),
                                  description=f"Check that the newest due {spec.name} partition is curated and "
                                              f"that the vendor published only on the calendar's days.")
    return dg.Definitions(
        assets=[raw, curated, monthly],
        asset_checks=[due, calendar],
        jobs=[job, rollup, due_job],
        schedules=[build_due_schedule(spec, due_job.name)],
        sensors=[build_missing_partitions_sensor(spec, job.name, days, clock),
                 build_rollup_sensor(spec, rollup.name, months, clock),
                 build_freshness_sensor(spec, due_job.name, job.name, days)],
    )
