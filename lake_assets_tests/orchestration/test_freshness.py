"""Freshness: the due schedule requests no data, and the partition-aware check follows the instance."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from pathlib import Path

import dagster as dg
import pytest

from lake_assets.definitions import defs as code_location
from lake_assets.lake.calendars import publishing_days
from lake_assets.lake.datasets import DAY_AGGS, NODAL_PRICES, DatasetSpec
from lake_assets.lake.due import newest_due_day
from lake_assets.lake.layout import partition_date, partition_key
from lake_assets.local_s3 import EmbeddedS3
from lake_assets.orchestration.freshness import GRACE, freshness_sensor_name
from lake_assets.orchestration.settings import resource_env
from lake_assets.s3 import S3Handler

defs = code_location()


@pytest.mark.parametrize(("spec", "cron", "timezone_name"), [
    (DAY_AGGS, "30 11 * * *", "America/New_York"),      # files due 11:00 New York, checked 30 min later
    (NODAL_PRICES, "30 13 * * *", "America/Chicago"),   # day-ahead prices due 13:00 Chicago on the day before
])
def test_the_schedule_checks_at_the_due_hour_and_requests_no_data(spec: DatasetSpec, cron: str,
                                                                  timezone_name: str) -> None:
    schedule = defs.resolve_schedule_def(f"{spec.name}_due")
    assert (schedule.cron_schedule, schedule.execution_timezone) == (cron, timezone_name)
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    job = defs.resolve_job_def(schedule.job_name)
    assert job.asset_layer.selected_asset_keys == set()  # only the due check: it never materialises a partition
    assert {key.name for key in job.asset_layer.asset_graph.asset_check_keys} >= {"newest_partition_due"}


def test_the_curated_assets_declare_no_freshness_policy_that_would_judge_materialization_time() -> None:
    graph = defs.resolve_asset_graph()  # a re-curated old day would look fresh: the due check judges dates
    assert all(graph.get(dg.AssetKey([spec.name, "curated"])).freshness_policy is None
               for spec in (DAY_AGGS, NODAL_PRICES))


@pytest.mark.integration
def test_the_due_check_fails_until_the_newest_due_partition_is_curated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seaweed: EmbeddedS3, bucket: str) -> None:
    for prefix in ("LAKE_S3", "VENDOR_S3"):  # every job has the lake's IO manager; the due job lists the vendor
        for name, value in resource_env(prefix, bucket, seaweed.transfer_config()).items():
            monkeypatch.setenv(name, value)
    instance = dg.DagsterInstance.local_temp(str(tmp_path))
    job = defs.resolve_job_def("spp_nodal_prices_due_check")
    due = partition_key(newest_due_day(NODAL_PRICES, datetime.now(timezone.utc) - GRACE))
    late = evaluations(job.execute_in_process(instance=instance))["newest_partition_due"]
    assert not late.passed and late.severity == dg.AssetCheckSeverity.WARN
    assert late.metadata["partition"].value == due and "not published: the vendor has published nothing; " \
        "nothing is curated" in late.metadata["detail"].value
    old = publishing_days(NODAL_PRICES.calendar, date(2024, 1, 1), partition_date(due))[-4]
    with S3Handler(seaweed.transfer_config(show_progress=False)) as lake:
        lake.put_bytes(bucket, NODAL_PRICES.curated.key(old), b"x")  # the lake's newest day: three days behind
        lake.put_bytes(bucket, NODAL_PRICES.source.key(old), b"x")  # and the vendor's: the vendor is behind
    stale = evaluations(job.execute_in_process(instance=instance))["newest_partition_due"]
    assert not stale.passed and stale.metadata["publishing_days_behind"].value == 3
    assert f"not published: the vendor's newest file is {partition_key(old)}, 3 publishing day(s) behind; the " \
        f"newest curated partition is {partition_key(old)}, 3 publishing day(s) behind" in \
        stale.metadata["detail"].value and stale.metadata["vendor_days_behind"].value == 3
    with S3Handler(seaweed.transfer_config(show_progress=False)) as vendor:
        vendor.put_bytes(bucket, NODAL_PRICES.source.key(partition_date(due)), b"x")  # published, not curated
    waiting = evaluations(job.execute_in_process(instance=instance))["newest_partition_due"]
    assert not waiting.passed and f"{due} was due at " in waiting.metadata["detail"].value
    assert "; published, not curated (missing); " in waiting.metadata["detail"].value
    instance.report_runless_asset_event(dg.AssetMaterialization(["spp_nodal_prices", "curated"], partition=due))
    assert evaluations(job.execute_in_process(instance=instance))["newest_partition_due"].passed


@pytest.mark.integration
def test_a_vendor_file_on_a_weekend_fails_the_off_calendar_check_as_a_warning_and_one_on_a_holiday_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seaweed: EmbeddedS3, bucket: str) -> None:
    for prefix in ("LAKE_S3", "VENDOR_S3"):
        for name, value in resource_env(prefix, bucket, seaweed.transfer_config()).items():
            monkeypatch.setenv(name, value)
    instance = dg.DagsterInstance.local_temp(str(tmp_path))
    job = defs.resolve_job_def("day_aggs_due_check")
    with S3Handler(seaweed.transfer_config(show_progress=False)) as vendor:
        vendor.put_bytes(bucket, DAY_AGGS.source.key(date(2024, 1, 12)), b"x")  # a Friday
        vendor.put_bytes(bucket, DAY_AGGS.source.key(date(2024, 1, 15)), b"x")  # MLK day: a partition, curated
        assert evaluations(job.execute_in_process(instance=instance))["vendor_files_on_calendar"].passed
        vendor.put_bytes(bucket, DAY_AGGS.source.key(date(2024, 1, 13)), b"x")  # a Saturday
        vendor.put_bytes(bucket, DAY_AGGS.source.key(date(2023, 12, 29)), b"x")  # a trading day before the start
    check = evaluations(job.execute_in_process(instance=instance))["vendor_files_on_calendar"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["files"].value == [DAY_AGGS.source.key(date(2023, 12, 29)),
                                             DAY_AGGS.source.key(date(2024, 1, 13))]
    detail = check.metadata["detail"].value
    assert detail.startswith("day_aggs: 2 vendor file(s) not on a partition, not curated: ")
    # each named with its real cause: the start date is no calendar problem
    assert "2023-12-29.csv.gz, dated 2023-12-29, before the dataset's start_date 2024-01-02" in detail
    assert "2024-01-13.csv.gz, dated 2024-01-13, a day the nyse calendar closes" in detail


def evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}


def test_the_freshness_sensor_runs_the_due_checks_once_after_each_change_and_not_during_a_run() -> None:
    """After a sensor's run, a backfill's last range or a run from the UI: one request per change of the curated
    asset, none while an ingest run is in progress (the backfill's next range is judged when it is over)."""
    sensor = defs.resolve_sensor_def(freshness_sensor_name(DAY_AGGS))
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    instance, cursor = dg.DagsterInstance.ephemeral(), None
    curated = dg.AssetKey(["day_aggs", "curated"])

    def tick() -> list[dg.RunRequest]:
        nonlocal cursor
        result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))
        cursor = result.cursor or cursor
        return list(result.run_requests or [])

    assert tick() == []  # nothing curated yet
    instance.report_runless_asset_event(dg.AssetMaterialization(curated, partition="2024-01-02"))
    first = tick()
    assert len(first) == 1 and first[0].run_key and tick() == []  # once per change
    running = str(uuid.uuid4())
    instance.add_run(dg.DagsterRun(job_name="day_aggs_ingest", run_id=running, status=dg.DagsterRunStatus.STARTED,
                                   tags={"dagster/partition": "2024-01-04"}))
    instance.report_runless_asset_event(dg.AssetMaterialization(curated, partition="2024-01-03"))
    assert tick() == []  # an ingest run is still working
    instance.delete_run(running)  # the run is over
    again = tick()
    assert len(again) == 1 and again[0].run_key != first[0].run_key
