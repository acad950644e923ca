"""Healing under the real daemon: `dagster dev` (webserver and `dagster-daemon`) runs the missing-partition
sensor while the lake's identity cannot write, so its run fails; the credentials are fixed and the daemon
restarted, as in the incident the issue describes; the sensor then requests the same partitions again, as
attempt 2 after its backoff, and they are curated. Real delays: the 60 s first backoff, the 60 s sensor interval.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from lake_assets.cli.main_job import LAKE_BUCKET, VENDOR_BUCKET
from lake_assets.cli.sample import publish_sample
from lake_assets.defs import healing
from lake_assets.defs.resources import resource_env
from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.local_s3 import EmbeddedS3, free_ports
from lake_assets.s3 import S3Handler
from lake_assets_tests.cli.test_ui import REPO, _free_port, _stop_group, _wait_for_ui

pytestmark = pytest.mark.integration
SENSOR = "day_aggs_missing_partitions"
DAYS = (DAY_AGGS.start_date, DAY_AGGS.start_date.replace(day=4))  # 2024-01-02 .. 2024-01-04


def start_dagster(home: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`dagster dev` on a free loopback port, the way `lake ui` starts it, with ``env`` for the code location."""
    port = _free_port()
    dagster = str(Path(sys.executable).parent / "dagster")
    with log.open("ab") as out:
        process = subprocess.Popen([dagster, "dev", "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p",
                                    str(port)], cwd=REPO, env={**os.environ, **env, "DAGSTER_HOME": str(home)},
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    _wait_for_ui(url, process, log)
    return process, url


def sensor_runs(home: Path) -> list[tuple[str, dg.DagsterRunStatus]]:
    """The sensor's runs so far, oldest first: (attempt, status)."""
    instance = dg.DagsterInstance.local_temp(str(home))  # the instance `dagster dev` uses, read from its home
    records = instance.get_run_records(dg.RunsFilter(tags={healing.SENSOR_TAG: SENSOR}), ascending=True)
    return [(r.dagster_run.tags.get(healing.ATTEMPT_TAG, "?"), r.dagster_run.status) for r in records]


def wait_until(what: str, done: Callable[[], bool], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:.0f} s:\n{log.read_text()[-3000:]}")
        time.sleep(2)


def test_a_request_that_failed_while_the_lake_could_not_be_written_heals_under_the_daemon(
        tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    log = tmp_path / "dagster-dev.log"
    server = EmbeddedS3(tmp_path / "s3", free_ports())
    server.start()
    process: subprocess.Popen[bytes] | None = None
    try:
        server.ensure_buckets(VENDOR_BUCKET, LAKE_BUCKET)
        with S3Handler(server.transfer_config(show_progress=False)) as vendor:
            publish_sample(vendor, VENDOR_BUCKET, [DAY_AGGS], *DAYS)
        vendor_env = resource_env("VENDOR_S3", VENDOR_BUCKET, server.transfer_config())
        read_only = {**vendor_env, **resource_env("LAKE_S3", LAKE_BUCKET, server.transfer_config("reader"))}
        process, _ = start_dagster(home, read_only, log)
        subprocess.run([str(Path(sys.executable).parent / "dagster"), "sensor", "start", SENSOR, "-w",
                        str(REPO / "workspace.yaml")], cwd=REPO, env={**os.environ, **read_only,
                                                                       "DAGSTER_HOME": str(home)},
                       check=True, capture_output=True, timeout=120)
        wait_until("the first run's failure", lambda: sensor_runs(home) == [("1", dg.DagsterRunStatus.FAILURE)],
                   240, log)
        failed_at = time.monotonic()
        _stop_group(process)  # the credentials are fixed and the daemon restarted
        fixed = {**vendor_env, **resource_env("LAKE_S3", LAKE_BUCKET, server.transfer_config())}
        process, _ = start_dagster(home, fixed, log)
        wait_until("the retry's success",
                   lambda: sensor_runs(home)[-1:] == [("2", dg.DagsterRunStatus.SUCCESS)], 360, log)
        healed_in = time.monotonic() - failed_at
        assert [attempt for attempt, _ in sensor_runs(home)] == ["1", "2"]  # one retry, no storm
        with S3Handler(server.transfer_config(show_progress=False)) as lake:
            curated = [o.key for o in lake.iter_objects(LAKE_BUCKET, DAY_AGGS.curated.listing_prefix)]
        assert len(curated) == 3
        print(f"healed {healed_in:.0f} s after the failure, daemon restart included")  # shown with -s
    finally:
        if process is not None:
            _stop_group(process)
        server.stop()
