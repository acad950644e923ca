"""The Dagster code location named in workspace.yaml imports and passes Dagster's own validation."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import yaml

from lake_assets.definitions import defs as code_location
from lake_assets.orchestration.tags import DATASET_TAG

defs = code_location()

ROOT = Path(__file__).resolve().parents[2]


def test_workspace_points_at_the_definitions_module() -> None:
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["python_module"]["module_name"] == "lake_assets.definitions"


def test_definitions_are_loadable() -> None:
    dg.Definitions.validate_loadable(defs)


SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")


def describe(definitions: dg.Definitions) -> dict[str, object]:
    """The graph a reviewer should see change: assets, checks, partitions, jobs, schedules, sensors, resources."""
    assets: dict[str, object] = {}
    for spec in definitions.resolve_all_asset_specs():
        assets_def = definitions.resolve_assets_def(spec.key)
        partitions = spec.partitions_def
        keys_2024 = [key for key in partitions.get_partition_keys(current_time=datetime(2025, 1, 1))
                     if key.startswith("2024")] if partitions else []
        assets[spec.key.to_user_string()] = {
            "group": spec.group_name, "owners": list(spec.owners), "kinds": sorted(spec.kinds),
            "description": spec.description,
            "deps": [f"{dep.asset_key.to_user_string()} {dep.partition_mapping!r}" for dep in spec.deps],
            "partitions": str(partitions), "partition_keys_2024": len(keys_2024), "first_keys": keys_2024[:3],
            "excluded_days": len(getattr(partitions, "exclusions", None) or []),
            "checks": sorted((check.name, check.blocking, check.description or "")
                             for check in assets_def.check_specs),
            "backfill_policy": repr(assets_def.backfill_policy),
            "pool": assets_def.op.pool if assets_def.is_executable else None,
            "automation_condition": repr(spec.automation_condition),
            "freshness_policy": repr(spec.freshness_policy),
        }
    jobs = sorted(job.name for job in definitions.resolve_all_job_defs() if not job.name.startswith("__"))
    schedules = {schedule.name: [schedule.cron_schedule, schedule.execution_timezone, schedule.job_name,
                                 str(schedule.default_status), schedule.description]
                 for schedule in definitions.schedules or []}
    sensors = {sensor.name: [[target.job_name for target in sensor.targets], sensor.minimum_interval_seconds,
                             str(sensor.default_status), sensor.description] for sensor in definitions.sensors or []}
    return {"assets": assets, "jobs": jobs, "schedules": schedules, "sensors": sensors,
            "resources": sorted(definitions.resources or {})}


def test_definitions_match_the_reviewed_snapshot() -> None:
    """Any change to the graph shows up here; regenerate with
    `python -m lake_assets_tests.orchestration.test_definitions`."""
    assert json.loads(json.dumps(describe(defs))) == json.loads(SNAPSHOT.read_text())


if __name__ == "__main__":
    SNAPSHOT.write_text(json.dumps(describe(defs), indent=2, sort_keys=True) + "\n")


def test_the_month_in_progress_and_published_day_ahead_prices_are_partitions() -> None:
    """`lake run` against a live feed rolls up the month in progress, so it must be a partition; day-ahead prices
    for tomorrow are published today, so tomorrow is a partition (its file is due at 13:00 Chicago); a weekday's
    window runs to the next weekday, so the weekday in progress is one (else Friday's would wait for Monday)."""
    now = datetime(2026, 11, 23, 20, 0, tzinfo=timezone.utc)  # a Monday, 14:00 in Chicago
    with dg.partition_loading_context(effective_dt=now):
        last = {key.to_user_string(): defs.resolve_assets_def(key).partitions_def.get_last_partition_key()
                for key in (dg.AssetKey(["day_aggs", "monthly"]), dg.AssetKey(["day_aggs", "curated"]),
                            dg.AssetKey(["spp_nodal_prices", "curated"]))}
    assert last == {"day_aggs/monthly": "2026-11-01", "day_aggs/curated": "2026-11-23",
                    "spp_nodal_prices/curated": "2026-11-24"}  # a weekday calendar: the weekday in progress
    days = defs.resolve_assets_def(dg.AssetKey(["day_aggs", "curated"])).partitions_def
    with dg.partition_loading_context(effective_dt=datetime(2026, 11, 21, 17, 0, tzinfo=timezone.utc)):
        assert days.get_last_partition_key() == "2026-11-20"  # on Saturday, Friday (its file due then) is one


def test_the_run_queue_runs_one_ingest_run_of_a_dataset_at_a_time() -> None:
    """A range's history checks compare its first days with the previous range's last days: the queue (FIFO,
    the sensor requests in date order) must not start a dataset's next range before the previous one ends."""
    limits = yaml.safe_load((ROOT / "dagster_home" / "dagster.yaml").read_text())["concurrency"]["runs"][
        "tag_concurrency_limits"]
    tags = {defs.resolve_job_def(f"{name}_ingest").tags.get(DATASET_TAG) for name in ("day_aggs", "spp_nodal_prices")}
    assert tags == {"day_aggs", "spp_nodal_prices"}
    assert {"key": DATASET_TAG, "limit": 1, "value": {"applyLimitPerUniqueValue": True}} in limits
