"""The ``lake`` command: the main job and the transfer demo end to end on their own servers, and the server subcommands."""

from __future__ import annotations

import re
import shutil
from datetime import date, datetime, timezone
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lake_assets.cli import main
from lake_assets.cli.main_job import VENDOR_BUCKET
from lake_assets.cli.sample import day_aggs_frame, gzip_csv
from lake_assets.definitions import defs as code_location
from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.lake.due import newest_due_day
from lake_assets.local_s3 import EmbeddedS3, Ports, free_ports
from lake_assets.orchestration.component import declared_datasets
from lake_assets.s3 import S3Handler

defs = code_location()

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_demo_uploads_downloads_and_verifies_then_skips_on_a_second_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--home", str(tmp_path), "--port", str(free_ports().s3)]
    demo = [*base, "transfer-demo", "--files", "30", "--small-kib", "4", "--large-mib", "9"]
    assert main(demo) == 0
    first = capsys.readouterr().out
    assert "31 files" in first and "all files verified byte-identical" in first
    assert main(demo) == 0
    second = capsys.readouterr().out
    assert "all files verified byte-identical" in second
    assert "'HeadObject': 31" in second and "PutObject" not in second  # all 31 found, none re-sent
    assert main([*base, "s3", "status"]) == 1  # the demo stopped the server it started


def test_server_subcommands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--home", str(tmp_path), "--port", str(free_ports().s3)]
    try:
        assert main([*base, "s3", "up"]) == 0
        assert main([*base, "s3", "status"]) == 0
        assert "running" in capsys.readouterr().out
        server = EmbeddedS3(tmp_path / "s3", Ports(int(base[3])))
        with S3Handler(server.transfer_config(show_progress=False)) as s3:  # the buckets `dagster dev` expects
            assert {b["Name"] for b in s3.client.list_buckets()["Buckets"]} >= {"vendor", "lake"}
        assert main([*base, "s3", "env", "--identity", "reader"]) == 0
        exports = capsys.readouterr().out
        assert "AWS_ACCESS_KEY_ID=LAKEREADER" in exports and "AWS_ENDPOINT_URL=http://127.0.0.1:" in exports
    finally:
        assert main([*base, "s3", "down"]) == 0
    assert "stopped" in capsys.readouterr().out


#: The sample of a vendor that stopped at 2024-Q1 (``lake run``'s default is every day due, up to yesterday).
LAGGING = ("--sample-until", "2024-03-31")


def test_run_fills_the_lake_through_the_sensors_is_idempotent_and_follows_a_correction(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        no_lake_settings: None) -> None:
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", dagster_home)
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))  # the command sets the settings; the fixture undoes it
    base = ["--home", str(tmp_path / "lake"), "--port", str(free_ports().s3), "--dagster-home", str(dagster_home)]
    assert main([*base, "run", *LAGGING]) == 0
    first = capsys.readouterr().out
    flat = " ".join(first.split())  # the console wraps long lines
    assert "dagster-daemon started on" in flat  # the daemon ran it, as in a deployment
    assert "full coverage" in first and "day_aggs: 1 runs over 63 partitions, 3 monthly rollups" in flat  # 61 days,
    assert "spp_nodal_prices: 1 runs over 91 partitions, 3 monthly rollups" in flat  # 2 holidays
    # the automation sensor's backfill: a range run, as their single_run() policy allows
    assert re.search(r"assets built on the lake: \d runs \(analytics/daily_returns 63, analytics/volatility_20d 63\)",
                     flat), flat
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    runs = instance.get_run_records(dg.RunsFilter(tags={"dagster/sensor_name": "day_aggs_missing_partitions"}))
    assert len(runs) == 1 and all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    for name, days in (("day_aggs", 61 + 2), ("spp_nodal_prices", 91)):  # the coverage table, and 2 holidays
        assert materialized(instance, dg.AssetKey([name, "curated"])) == days
    assert materialized(instance, dg.AssetKey(["analytics", "volatility_20d"])) == 63
    for name in ("day_aggs", "spp_nodal_prices"):  # freshness evaluated on what the run left: the sample is old
        assert re.search(rf"{name}, newest_partition_due warns: {name} \S+ was due at .*; not published: the "
                         rf"vendor's newest file is (2024-03-\d\d), (\d+) publishing day\(s\) behind; the newest "
                         rf"curated partition is \1, \2 publishing day\(s\) behind", flat)  # the vendor's lag
        for check, status in (("newest_partition_due", "FAILED"), ("vendor_files_on_calendar", "SUCCEEDED")):
            records = instance.event_log_storage.get_asset_check_execution_history(  # the daemon's due-check run
                dg.AssetCheckKey(dg.AssetKey([name, "curated"]), check), limit=5)
            assert [record.status.value for record in records] == [status], (name, check)
    assert main([*base, "run", *LAGGING]) == 0
    second = capsys.readouterr().out
    assert "0 new files" in second
    assert "(nothing left for a sensor to ask for)" in " ".join(second.split())  # no quiet window to wait out
    assert "day_aggs: 0 runs over 0 partitions, 0 monthly rollups, 0 due-check runs" in " ".join(second.split())
    assert "assets built on the lake: 0 runs (nothing requested)" in " ".join(second.split())
    server = EmbeddedS3(tmp_path / "lake" / "s3", Ports(int(base[3])))
    correct_vendor_day(server, date(2024, 2, 5))  # the next run re-curates it, and refreshes what reads it
    assert main([*base, "run", *LAGGING]) == 0
    third = capsys.readouterr().out
    assert "day_aggs: 1 runs over 1 partitions" in third
    refreshed = re.search(r"assets built on the lake: \d+ runs \(analytics/daily_returns (\d+), "
                          r"analytics/volatility_20d (\d+)\)", " ".join(third.split()))
    # the returns whose three-weekday look-back holds the day, and the volatility windows holding one of them
    assert refreshed and refreshed.groups() == ("4", "28"), " ".join(third.split())[-600:]
    assert main([*base, "status"]) == 0
    secret = server.credentials().secret_access_key
    assert_everything_written_is_encrypted(server)
    leaks = [str(path) for root in (dagster_home, tmp_path / "lake" / "s3" / "logs") for path in root.rglob("*")
             if path.is_file() and secret.encode() in path.read_bytes()]
    assert leaks == [] and secret not in first + second


def test_the_demo_lake_is_complete_and_fresh_in_dagster_too(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            no_lake_settings: None) -> None:
    """`make demo` as a new user runs it: the vendor is up to date, so Dagster shows no day missing that is due,
    the due checks pass, and only a day whose file is not due yet (if the clock is before its due hour) is missing."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", dagster_home)
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    base = ["--home", str(tmp_path / "lake"), "--port", str(free_ports().s3), "--dagster-home", str(dagster_home)]
    assert main([*base, "run"]) == 0
    flat = " ".join(capsys.readouterr().out.split())
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    now = datetime.now(timezone.utc)
    for spec in declared_datasets():
        due = newest_due_day(spec, now)
        assert due is not None and re.search(rf"{spec.name}, newest_partition_due passed: {spec.name} {due} was due "
                                             rf"at \S+; curated; .* 0 publishing day\(s\) behind", flat), flat[-900:]
        asset = dg.AssetKey([spec.name, "curated"])
        partitions = defs.resolve_assets_def(asset).partitions_def
        keys = partitions.get_partition_keys(current_time=now)
        statuses = instance.get_status_by_partition(asset, keys, partitions) or {}
        missing = [key for key in keys if statuses.get(key) != dg.AssetPartitionStatus.MATERIALIZED]
        assert missing == [key for key in keys if key > due.isoformat()] and len(missing) <= 2, missing
        if spec.name == "day_aggs":  # what is built on it is complete too: lake run did not stop before it was
            for built in (["analytics", "daily_returns"], ["analytics", "volatility_20d"]):
                statuses = instance.get_status_by_partition(dg.AssetKey(built), keys, partitions) or {}
                assert [key for key in keys if statuses.get(key) != dg.AssetPartitionStatus.MATERIALIZED] == missing
    assert "(nothing left for a sensor to ask for)" in flat
    assert main([*base, "status"]) == 0


def materialized(instance: dg.DagsterInstance, asset: dg.AssetKey) -> int:
    """How many partitions of a day_aggs-partitioned ``asset`` Dagster counts as materialised."""
    partitions = defs.resolve_assets_def(asset).partitions_def
    keys = partitions.get_partition_keys(current_time=datetime(2024, 4, 2, tzinfo=timezone.utc))
    statuses = instance.get_status_by_partition(asset, keys, partitions) or {}
    return sum(status == dg.AssetPartitionStatus.MATERIALIZED for status in statuses.values())


def correct_vendor_day(server: EmbeddedS3, day: date) -> None:
    """Publish a corrected vendor file for ``day``: every price 1 % higher."""
    prices = [pl.col(name) * 1.01 for name in ("open", "close", "high", "low")]
    server.start()
    try:
        with S3Handler(server.transfer_config(show_progress=False)) as vendor:
            vendor.put_bytes(VENDOR_BUCKET, DAY_AGGS.source.key(day),
                             gzip_csv(day_aggs_frame(day).with_columns(prices)), overwrite=True)
    finally:
        server.stop()


def assert_everything_written_is_encrypted(server: EmbeddedS3) -> None:
    """Every object in the vendor and lake buckets carries SSE (the data persisted across the stop)."""
    server.start()
    try:
        with S3Handler(server.transfer_config(show_progress=False)) as s3:
            keys = {bucket: [info.key for info in s3.iter_objects(bucket)] for bucket in ("vendor", "lake")}
            unencrypted = [f"{bucket}/{key}" for bucket, bucket_keys in keys.items() for key in bucket_keys
                           if s3.info(bucket, key).server_side_encryption != "AES256"]
    finally:
        server.stop()
    # raw + curated + 6 monthly rollups, and the example assets' 2 x 63 days (a holiday's are empty)
    assert len(keys["vendor"]) == 152 and len(keys["lake"]) == 2 * 152 + 6 + 2 * 63
    assert unencrypted == []
