"""The checks on the embedded SeaweedFS, through the curated asset: warnings (schema drift, comparisons with
earlier days) are recorded with WARN severity and the partition is written; errors keep the last good
partition; hourly prices are counted in the dataset's local day."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lake_assets.cli.sample import day_aggs_frame, gzip_csv, nodal_frame
from lake_assets.lake.calendars import publishing_days
from lake_assets.lake.checks import concerns_for
from lake_assets.lake.datasets import DAY_AGGS, NODAL_PRICES, DatasetSpec
from lake_assets.orchestration.factory import build_dataset_defs
from lake_assets.orchestration.resources import S3TransferResource
from lake_assets_tests.conftest import check_outcomes, publish

pytestmark = pytest.mark.integration
DAYS = publishing_days("nyse", date(2024, 1, 2), date(2024, 1, 10))  # 2, 3, 4, 5, 8, 9, 10


def raw_and_curated(spec: DatasetSpec) -> list[dg.AssetsDefinition]:
    return [a for a in build_dataset_defs(spec).assets or [] if isinstance(a, dg.AssetsDefinition)
            and a.key.path[-1] in ("raw", "curated")]


def run(lake: dict[str, S3TransferResource], instance: dg.DagsterInstance, day: date,
        spec: DatasetSpec = DAY_AGGS) -> dg.ExecuteInProcessResult:
    return dg.materialize(raw_and_curated(spec), partition_key=day.isoformat(), resources=lake, instance=instance,
                          raise_on_error=False)


def concerns(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, object]]:
    return {name: outcome for (name, _), outcome in check_outcomes(result.get_asset_check_evaluations()).items()}


def curated(lake: dict[str, S3TransferResource], day: date, spec: DatasetSpec = DAY_AGGS) -> pl.DataFrame:
    with lake["lake_s3"].open() as handler:
        return pl.read_parquet(io.BytesIO(handler.get_bytes(lake["lake_s3"].bucket, spec.curated.key(day))))


def test_a_warning_is_recorded_and_the_partition_written_an_error_keeps_the_last_good_one(
        lake: dict[str, S3TransferResource], tmp_path: Path) -> None:
    instance = dg.DagsterInstance.local_temp(str(tmp_path))
    publish(lake, DAY_AGGS, DAYS[:5])
    assert dg.materialize(raw_and_curated(DAY_AGGS), resources=lake, instance=instance, tags={
        "dagster/asset_partition_range_start": DAYS[0].isoformat(),
        "dagster/asset_partition_range_end": DAYS[4].isoformat()}).success

    day = DAYS[5]  # a truncated file, with a column the schema does not know and one ticker 50x up
    frame = day_aggs_frame(day)
    ticker = frame["ticker"][0]
    odd = frame.head(33).with_columns(
        [pl.when(pl.col("ticker") == ticker).then(pl.col(c) * 50).otherwise(pl.col(c)).alias(c)
         for c in ("open", "close", "high", "low")] + [pl.lit("x").alias("vwap_note")])
    publish(lake, DAY_AGGS, [day], data=gzip_csv(odd))
    warned = run(lake, instance, day)
    assert warned.success and curated(lake, day).height == 33  # written: warnings do not block
    found = checks(warned)
    for name, text in (("unknown_columns", "['vwap_note']"),
                       ("row_count_usual", "33 rows against a median of 100 over 2024-01-02..2024-01-08"),
                       ("close_moves", f"1 of 33 tickers (3.0%) closed more than 5x away from their 2024-01-08 "
                                       f"close, e.g. {ticker} ")):
        assert not found[name]["passed"] and found[name]["severity"] == dg.AssetCheckSeverity.WARN, name
        assert text in found[name]["detail"] and found[name]["concern"] == "drift", name
    drift = concerns(warned)["drift"]
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN and not drift.blocking
    assert drift.metadata["failed_checks"].value == ["unknown_columns", "row_count_usual", "close_moves"]
    assert drift.metadata["detail"].value.startswith("day_aggs: 2024-01-09: unknown_columns: ")
    assert found["schema"]["passed"] and found["finite_values"]["passed"]
    assert concerns(warned)["structure"].passed and concerns(warned)["values"].passed

    nan = frame.with_columns(close=pl.when(pl.col("ticker") == ticker).then(float("nan")).otherwise("close"))
    publish(lake, DAY_AGGS, [day], data=gzip_csv(nan))
    kept = run(lake, instance, day)  # a correction failing a blocking check waits in quarantine
    assert kept.success and curated(lake, day).height == 33  # the last good partition stays, served
    assert concerns(kept)["values"].passed  # what the lake serves passed when it was curated
    drift = concerns(kept)["drift"]
    assert not drift.passed and drift.metadata["failed_checks"].value == ["quarantine"]
    assert f"finite_values: close: 1 NaN or infinite value(s), e.g. ticker={ticker} " in drift.metadata["detail"].value


def test_a_file_published_again_under_the_next_date_warns_naming_the_day_it_copies(
        lake: dict[str, S3TransferResource], tmp_path: Path) -> None:
    instance = dg.DagsterInstance.local_temp(str(tmp_path))
    publish(lake, DAY_AGGS, DAYS[:2])
    for day in DAYS[:2]:
        assert run(lake, instance, day).success
    stamp = day_aggs_frame(DAYS[2])["window_start"][0]
    copy = day_aggs_frame(DAYS[1]).with_columns(pl.lit(stamp).alias("window_start"))  # yesterday's values
    publish(lake, DAY_AGGS, [DAYS[2]], data=gzip_csv(copy))
    result = run(lake, instance, DAYS[2])
    same = checks(result)["same_content"]
    assert result.success and not same["passed"] and same["severity"] == dg.AssetCheckSeverity.WARN
    assert "the same values as [datetime.date(2024, 1, 3)]" in str(same["detail"])


@pytest.mark.parametrize("day", [date(2024, 3, 10), date(2024, 11, 3)])  # 23 and 25 hours in Chicago
def test_hourly_prices_on_daylight_saving_days_pass_with_their_hours_and_fail_with_24(
        lake: dict[str, S3TransferResource], tmp_path: Path, day: date) -> None:
    instance = dg.DagsterInstance.local_temp(str(tmp_path))
    first = nodal_frame(day)["interval_start"].min()
    naive = nodal_frame(day).head(0).vstack(pl.DataFrame({  # 24 rows per node, as a vendor ignoring DST sends
        "interval_start": [first + timedelta(hours=h) for h in range(24) for _ in range(40)],
        "node": [f"SPP_NODE_{n:03d}" for _ in range(24) for n in range(40)],
        **{c: [1.0] * 960 for c in ("lmp", "energy", "congestion", "loss")}}, schema=NODAL_PRICES.schema))
    publish(lake, NODAL_PRICES, [day], data=gzip_csv(naive))
    result = run(lake, instance, day, NODAL_PRICES)
    hours = checks(result)["hours_per_day"]
    with lake["lake_s3"].open() as handler:
        assert handler.find(lake["lake_s3"].bucket, NODAL_PRICES.curated.key(day)) is None  # refused: not written
    assert not result.success and not hours["passed"]
    expected = 23 if day.month == 3 else 25
    assert f"40 node(s) without {expected} hourly rows ({day} has {expected} hours in America/Chicago)" in \
        str(hours["detail"])
    publish(lake, NODAL_PRICES, [day])  # the vendor's day with its 23 or 25 hours
    good = run(lake, instance, day, NODAL_PRICES)
    assert good.success and checks(good)["hours_per_day"]["passed"]


def test_a_range_run_records_each_days_checks_against_its_partition_and_catches_a_file_published_twice(
        lake: dict[str, S3TransferResource], tmp_path: Path) -> None:
    """Days curated together compare with the same earlier days as when curated alone: the run's own
    earlier days, though they are curated in parallel threads; every check result names its partition."""
    instance = dg.DagsterInstance.local_temp(str(tmp_path))
    publish(lake, DAY_AGGS, DAYS[:6])
    stamp = day_aggs_frame(DAYS[1])["window_start"][0]
    publish(lake, DAY_AGGS, [DAYS[1]], data=gzip_csv(day_aggs_frame(DAYS[0]).with_columns(
        pl.lit(stamp).alias("window_start"))))  # the first day's file again, dated the second
    result = dg.materialize(raw_and_curated(DAY_AGGS), resources=lake, instance=instance, tags={
        "dagster/asset_partition_range_start": DAYS[0].isoformat(),
        "dagster/asset_partition_range_end": DAYS[5].isoformat()})
    assert result.success
    by_partition = check_outcomes(result.get_asset_check_evaluations())
    same = by_partition[("same_content", DAYS[1].isoformat())]
    assert not same["passed"] and same["severity"] == dg.AssetCheckSeverity.WARN
    assert "the same values as [datetime.date(2024, 1, 2)]" in same["detail"]
    assert "over 2024-01-02..2024-01-08 (5 day(s))" in by_partition[("row_count_usual", DAYS[5].isoformat())][
        "detail"]  # the last day compared with the run's five earlier days
    asset = dg.AssetKey(["day_aggs", "curated"])
    for concern in concerns_for(DAY_AGGS):
        key = dg.AssetCheckKey(asset, concern.name)
        records = instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
        per_day = {record.partition: record.status.value for record in records if record.partition}
        assert per_day == {day.isoformat(): "FAILED" if (concern.name, day) == ("drift", DAYS[1]) else "SUCCEEDED"
                           for day in DAYS[:6]}, concern.name  # nothing left PLANNED, no result without a day
        assert len(records) == 7, concern.name  # and the run's summary, which counts in no day's status
        # what the check's Partitions view counts: each day's result judges the day's latest materialization
        # (the UI's status ignores the summary, which names no partition)
        infos = instance.event_log_storage.get_asset_check_partition_info([key])
        assert {info.partition_key: (info.is_current, info.latest_execution_status.value) for info in infos
                if info.partition_key} == {key: (True, status) for key, status in per_day.items()}
