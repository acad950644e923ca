"""The production layout for real: Dagster's storage in a throwaway PostgreSQL, the code server, the daemon and the
webserver as separate processes configured by deploy/dagster.yaml and deploy/workspace.yaml, the code location's
settings in a ``.env`` file, and a partition backfill launched through the webserver's GraphQL API as the UI does.
Step logs go to S3 (the embedded SeaweedFS) and are read back through the webserver once the run's local files are
gone. Everything listens on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from lake_assets.cli.env_file import dagster_env, is_setting, merge_env_file
from lake_assets.cli.sample import publish_sample
from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.local_s3 import EmbeddedS3
from lake_assets.local_s3.server import LOCAL_REGION
from lake_assets.orchestration.sensors import sensor_name
from lake_assets.s3 import S3Handler
from lake_assets_tests.cli.test_ui import REPO, _free_port, _stop_group, _wait_for_ui
from lake_assets_tests.deploy.postgres import ThrowawayPostgres
from lake_assets_tests.graphql import BACKFILL, CAPTURED_LOGS, LAUNCH_BACKFILL, LOGS_CAPTURED, SENSOR, STOP_SENSOR

pytestmark = pytest.mark.integration

DAYS = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
ASSETS = [["day_aggs", "raw"], ["day_aggs", "curated"]]
TIMEOUT = 300.0
BIN = Path(sys.executable).parent


@dataclass
class Deployment:
    """The processes of one deployment, their logs, and how to reach the webserver and the database."""

    project: Path
    env: dict[str, str]
    postgres: ThrowawayPostgres
    webserver_url: str
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *command: str) -> subprocess.Popen[bytes]:
        """Start ``command`` in the project directory (where it reads ``.env``), in its own process group."""
        with (self.logs / f"{name}.log").open("wb") as out:
            process = subprocess.Popen(command, cwd=self.project, env=self.env, stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.processes[name] = process
        return process

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        """POST one GraphQL request to the webserver; return its ``data`` or fail with its errors."""
        request = urllib.request.Request(f"{self.webserver_url}/graphql", method="POST",
                                         data=json.dumps({"query": query, "variables": variables}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.load(response)
        assert "errors" not in answer, answer
        return dict(answer["data"])

    def sql(self, statement: str, *params: object) -> list[tuple[Any, ...]]:
        """Rows of one query on Dagster's database."""
        connection = self.postgres.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement, params)
                return list(cursor.fetchall())
        finally:
            connection.close()

    def alive(self) -> None:
        """Fail with the log of any process that exited."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}:\n"
                            f"{(self.logs / f'{name}.log').read_text()[-4000:]}")

    def wait(self, what: str, done: Any) -> Any:
        """Poll ``done()`` until it returns something true, failing if a process dies or TIMEOUT passes."""
        deadline = time.monotonic() + TIMEOUT
        while not (result := done()):
            self.alive()
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {p.name}\n{p.read_text()[-2500:]}" for p in sorted(self.logs.glob("*.log")))
                pytest.fail(f"{what} did not happen within {TIMEOUT:.0f} s\n{logs}")
            time.sleep(2)
        return result


@pytest.fixture
def deployment(tmp_path: Path, seaweed: EmbeddedS3) -> Iterator[Deployment]:
    """PostgreSQL, then `dagster instance migrate`, the code server and the webserver (the daemon is the test's)."""
    project, dagster_home, logs = tmp_path / "project", tmp_path / "dagster_home", tmp_path / "logs"
    for folder in (project, dagster_home, logs):
        folder.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")
    # what a user does: write the embedded server's settings into .env, then edit the buckets
    merge_env_file(project / ".env", dagster_env(seaweed, dagster_home))
    suffix = uuid.uuid4().hex[:8]
    merge_env_file(project / ".env", {**dagster_env(seaweed, dagster_home),
                                      "VENDOR_S3_BUCKET": f"vendor-{suffix}", "LAKE_S3_BUCKET": f"lake-{suffix}"})
    seaweed.ensure_buckets(f"vendor-{suffix}", f"lake-{suffix}", f"logs-{suffix}")
    keys = seaweed.credentials("admin")  # the step logs reach S3 through boto3's chain, as with an instance role
    step_logs = {"DAGSTER_COMPUTE_LOGS_BUCKET": f"logs-{suffix}", "AWS_ENDPOINT_URL_S3": seaweed.endpoint_url,
                 "AWS_ACCESS_KEY_ID": keys.access_key_id, "AWS_SECRET_ACCESS_KEY": keys.secret_access_key,
                 "AWS_REGION": LOCAL_REGION}
    code_port, web_port = _free_port(), _free_port()
    with ThrowawayPostgres() as postgres:
        env = {name: value for name, value in os.environ.items() if not is_setting(name)}
        env.update(postgres.env, **step_logs, LAKE_CODE_SERVER_HOST="127.0.0.1", LAKE_CODE_SERVER_PORT=str(code_port))
        system = Deployment(project, env, postgres, f"http://127.0.0.1:{web_port}", logs)
        try:
            migrate = subprocess.run([str(BIN / "dagster"), "instance", "migrate"], cwd=project, env=env,
                                     capture_output=True, text=True, timeout=300)
            assert migrate.returncode == 0, migrate.stdout + migrate.stderr
            system.start("code-server", str(BIN / "dagster"), "code-server", "start", "-m", "lake_assets.definitions",
                         "--location-name", "lake_assets", "-h", "127.0.0.1", "-p", str(code_port))
            system.wait("the code server", lambda: subprocess.run(
                [str(BIN / "dagster"), "api", "grpc-health-check", "-h", "127.0.0.1", "-p", str(code_port)],
                capture_output=True, timeout=60).returncode == 0)
            webserver = system.start("webserver", str(BIN / "dagster-webserver"), "-w",
                                     str(REPO / "deploy" / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(web_port))
            _wait_for_ui(system.webserver_url, webserver, logs / "webserver.log")
            yield system
        finally:
            for process in system.processes.values():
                _stop_group(process)


def test_a_backfill_through_the_webserver_runs_on_postgres_across_separate_processes(
        deployment: Deployment, seaweed: EmbeddedS3) -> None:
    selector = {"repositoryLocationName": "lake_assets", "repositoryName": "__repository__",
                "sensorName": sensor_name(DAY_AGGS)}
    sensor = deployment.graphql(SENSOR, sensor=selector)["sensorOrError"]
    assert sensor["__typename"] == "Sensor", sensor  # the webserver reached the code server over gRPC
    stopped = deployment.graphql(STOP_SENSOR, id=sensor["id"])["stopSensor"]
    assert stopped["instigationState"]["status"] == "STOPPED", stopped  # the backfill alone fills these days
    deployment.start("daemon", str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "deploy" / "workspace.yaml"))

    settings = {line.split("=", 1)[0]: line.split("=", 1)[1]
                for line in (deployment.project / ".env").read_text().splitlines() if "=" in line}
    vendor_bucket, lake_bucket = settings["VENDOR_S3_BUCKET"], settings["LAKE_S3_BUCKET"]
    with S3Handler(seaweed.transfer_config(show_progress=False)) as s3:
        publish_sample(s3, vendor_bucket, [DAY_AGGS], date(2024, 1, 2), date(2024, 1, 5))
    launched = deployment.graphql(LAUNCH_BACKFILL, params={
        "assetSelection": [{"path": path} for path in ASSETS], "partitionNames": DAYS,
        "title": "deployment test"})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    def finished() -> str | None:
        status = deployment.graphql(BACKFILL, id=backfill_id)["partitionBackfillOrError"]["status"]
        return None if status == "REQUESTED" else str(status)

    assert deployment.wait("the backfill", finished) == "COMPLETED_SUCCESS"
    deployment.alive()

    runs = deployment.sql("SELECT r.status, count(*) FROM runs r JOIN run_tags t ON t.run_id = r.run_id "
                          "WHERE t.key = 'dagster/backfill' AND t.value = %s GROUP BY r.status", backfill_id)
    assert dict(runs).keys() == {"SUCCESS"} and sum(count for _, count in runs) >= 1
    materialized = deployment.sql(
        "SELECT asset_key, partition FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
        "AND run_id IN (SELECT run_id FROM run_tags WHERE key = 'dagster/backfill' AND value = %s)", backfill_id)
    assert sorted(materialized) == sorted((json.dumps(path), day) for path in ASSETS for day in DAYS)
    assert deployment.sql("SELECT status FROM bulk_actions WHERE key = %s", backfill_id) == [("COMPLETED_SUCCESS",)]
    ticks = deployment.wait("a sensor tick in PostgreSQL", lambda: deployment.sql(
        "SELECT count(*) FROM job_ticks WHERE type = 'SENSOR'")[0][0])
    assert ticks >= 1
    daemons = {kind for (kind,) in deployment.sql("SELECT daemon_type FROM daemon_heartbeats")}
    assert {"SENSOR", "BACKFILL", "QUEUED_RUN_COORDINATOR", "SCHEDULER"} <= daemons
    assert list(Path(settings["DAGSTER_HOME"]).rglob("*.db")) == []  # no sqlite storage anywhere: all in PostgreSQL

    with S3Handler(seaweed.transfer_config(show_progress=False)) as s3:
        curated = list(s3.iter_objects(lake_bucket, DAY_AGGS.curated.listing_prefix))
        assert len(curated) == len(DAYS)
        assert {s3.client.head_object(Bucket=lake_bucket, Key=item.key)["ServerSideEncryption"]
                for item in curated} == {"AES256"}
    _step_logs_are_read_back_from_s3(deployment, seaweed, backfill_id)


def _step_logs_are_read_back_from_s3(deployment: Deployment, seaweed: EmbeddedS3, backfill_id: str) -> None:
    """The run's step logs are in the logs bucket, encrypted, and the webserver serves them from there: the run's
    process removed its local files once they were uploaded (as a pod's disk goes), so S3 is the only copy."""
    (run_id,), *_ = deployment.sql("SELECT run_id FROM run_tags WHERE key = 'dagster/backfill' AND value = %s",
                                   backfill_id)
    events = deployment.graphql(LOGS_CAPTURED, runId=run_id)["logsForRun"]["events"]
    captured, = (event for event in events if event["__typename"] == "LogsCapturedEvent")
    bucket = deployment.env["DAGSTER_COMPUTE_LOGS_BUCKET"]
    with S3Handler(seaweed.transfer_config(show_progress=False)) as s3:
        uploaded = [item.key for item in s3.iter_objects(bucket, f"compute-logs/storage/{run_id}/")]
        assert any(key.endswith(f"{captured['fileKey']}.err") for key in uploaded), uploaded
        assert {s3.client.head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] for key in uploaded} == {
            "AES256"}
    local = Path("/tmp") / run_id  # where S3ComputeLogManager writes before uploading (its local_dir: /tmp on Unix)
    assert (local / "compute_logs").is_dir() and not list((local / "compute_logs").iterdir())  # removed on upload
    try:
        logs = deployment.graphql(CAPTURED_LOGS, logKey=[run_id, "compute_logs", captured["fileKey"]])["capturedLogs"]
    finally:
        shutil.rmtree(local, ignore_errors=True)  # the webserver's copy, downloaded from S3
    assert run_id in logs["stderr"] and "day_aggs" in logs["stderr"], logs
