"""A year of ``day_aggs`` backfilled through the webserver with the daemon running, against the same year in process.

    .venv/bin/python bench/daemon_backfill.py [--executor in_process|multiprocess] [--concurrency 2]
        [--dequeue-interval SECONDS] [--modes in-process,ranges,per-partition,sensor] [--until 2024-12-31]
        [--start 2024-01-01] [--tickers N]

Publishes 2024's vendor files (252 NYSE trading days, 100 tickers each) to a fresh embedded SeaweedFS,
then starts the production layout on loopback: ``dagster code-server``, ``dagster-webserver`` and
``dagster-daemon`` as separate processes, the instance of ``dagster_home/dagster.yaml`` (SQLite) with its
run concurrency set to ``--concurrency``, the settings in a ``.env`` file as ``lake s3 env --dagster``
writes it. Every sensor is stopped first, so the backfills alone do the work. The modes, the lake
emptied before each:

- ``in-process``: what ``bench/backfill.py`` measures: the missing-partition sensor's range requests
  executed one after another in this process (no daemon, no run workers);
- ``ranges``: ``launchPartitionBackfill`` of the raw and curated assets over every trading day, as the
  UI's backfill dialog sends it; the assets' ``BackfillPolicy`` cuts it into range runs;
- ``per-partition``: the same days as a backfill of the ingest job's partition set: one run per day;
- ``sensor``: the production path, no backfill at all: the dataset's missing-partition sensor is started
  under the daemon and requests the ranges itself (at most 500 days a tick, every 30 s), one ingest run of
  the dataset at a time (``lake/dataset``); timed until every day is curated in the lake.

``--executor`` chooses the executor of every run the daemon launches (the code location is loaded from
``bench/executor_defs.py``, which rebuilds ``lake_assets.definitions`` with each executor). Columns: wall time from
the mutation to the backfill's ``COMPLETED_SUCCESS`` (or the last run's end); when the last run ended
("data complete") and the first began, counted from the mutation; the runs phase between them, and its
ratio to the in-process time; the runs' own durations (start to end, as Dagster records them).
``--start 2006-01-03`` backfills twenty years instead (with ``--until 2025-12-31``: 5,031 partitions), from the
code location ``history`` of ``bench/executor_defs.py`` (``day_aggs`` alone, from 2006, in process).
``--tickers N`` publishes N rows a day instead of the sample's 100 (3: a history of index closes, as
``bench/history.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from backfill import NO_TELEMETRY, backfill, empty_lake  # noqa: E402
from executor_defs import HISTORY_START  # noqa: E402

from lake_assets.cli.env_file import dagster_env, is_setting, merge_env_file  # noqa: E402
from lake_assets.cli.main_job import LAKE_BUCKET, VENDOR_BUCKET, activate  # noqa: E402
from lake_assets.cli.sample import day_aggs_frame, gzip_csv, publish_sample  # noqa: E402
from lake_assets.lake.calendars import publishing_days  # noqa: E402
from lake_assets.lake.datasets import DAY_AGGS, DatasetSpec  # noqa: E402
from lake_assets.local_s3 import EmbeddedS3, free_ports  # noqa: E402
from lake_assets.orchestration.factory import build_dataset_defs, ingest_job_name  # noqa: E402
from lake_assets.orchestration.partitions import daily_partitions  # noqa: E402
from lake_assets.orchestration.resources import s3_resource_from_env  # noqa: E402
from lake_assets.orchestration.sensors import sensor_name  # noqa: E402
from lake_assets.s3 import S3Handler  # noqa: E402
from lake_assets_tests.graphql import (  # noqa: E402
    BACKFILL,
    LAUNCH_BACKFILL,
    LAUNCH_RUN,
    RUNS,
    SENSORS,
    START_SENSOR,
    STOP_SENSOR,
)

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
YEAR_START = date(2024, 1, 1)
LOCATION = "lake_assets"
REPOSITORY = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}

DONE = {"SUCCESS", "FAILURE", "CANCELED"}


class Layout:
    """The code server, webserver and daemon of one benchmark, on loopback, and the webserver's GraphQL API."""

    def __init__(self, project: Path, env: dict[str, str], logs: Path) -> None:
        self.project, self.env, self.logs = project, env, logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.url = ""

    def start(self, name: str, *command: str) -> None:
        """Start ``command`` in the project directory (where Dagster reads ``.env``), in its own process group."""
        with (self.logs / f"{name}.log").open("wb") as out:
            self.processes[name] = subprocess.Popen(command, cwd=self.project, env=self.env, stdout=out,
                                                    stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, what: str, done: Any, timeout: float = 3600.0, every: float = 0.5) -> Any:
        """Poll ``done()`` until it returns something true; stop with the logs if a process dies or time runs out."""
        deadline = time.monotonic() + timeout
        while not (result := done()):
            dead = [name for name, process in self.processes.items() if process.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.logs.glob("*.log")))
                raise SystemExit(f"{what}: {'exited: ' + ', '.join(dead) if dead else 'timed out'}\n{logs}")
            time.sleep(every)
        return result

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        """POST one GraphQL request to the webserver; return its ``data``."""
        request = urllib.request.Request(f"{self.url}/graphql", method="POST",
                                         headers={"Content-Type": "application/json"},
                                         data=json.dumps({"query": query, "variables": variables}).encode())
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"GraphQL: {exc}: {exc.read().decode()[:2000]}") from exc
        if "errors" in answer:
            raise SystemExit(f"GraphQL: {answer['errors']}")
        return dict(answer["data"])

    def up(self, executor: str) -> None:
        """Start the code server and the webserver, stop every sensor, then start the daemon."""
        code_port, web_port = _free_port(), _free_port()
        self.env.update(LAKE_CODE_SERVER_HOST="127.0.0.1", LAKE_CODE_SERVER_PORT=str(code_port))
        self.start("code-server", str(BIN / "dagster"), "code-server", "start", "-f",
                   str(REPO / "bench" / "executor_defs.py"), "-a", executor, "--location-name", LOCATION,
                   "-h", "127.0.0.1", "-p", str(code_port))
        self.wait("the code server", lambda: subprocess.run(
            [str(BIN / "dagster"), "api", "grpc-health-check", "-h", "127.0.0.1", "-p", str(code_port)],
            capture_output=True).returncode == 0, every=2)
        workspace = REPO / "deploy" / "workspace.yaml"
        self.start("webserver", str(BIN / "dagster-webserver"), "-w", str(workspace), "-h", "127.0.0.1",
                   "-p", str(web_port))
        self.url = f"http://127.0.0.1:{web_port}"
        self.wait("the webserver", self._answers, every=1)
        sensors = self.graphql(SENSORS, repo=REPOSITORY)["sensorsOrError"]["results"]
        for sensor in sensors:
            self.graphql(STOP_SENSOR, id=sensor["id"])
        self.start("daemon", str(BIN / "dagster-daemon"), "run", "-w", str(workspace))

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/server_info", timeout=5):
                return True
        except OSError:
            return False

    def down(self) -> None:
        """Stop every process group (a run worker dies with the daemon's group)."""
        for process in self.processes.values():
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=60)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass

    def backfill(self, params: dict[str, Any]) -> tuple[float, float, list[dict[str, Any]]]:
        """Launch one backfill and wait for it; return when it started (epoch), its wall seconds and its runs."""
        began, started = time.perf_counter(), time.time()
        launched = self.graphql(LAUNCH_BACKFILL, params=params)["launchPartitionBackfill"]
        if launched["__typename"] != "LaunchBackfillSuccess":
            raise SystemExit(f"launch: {launched}")
        backfill_id = launched["backfillId"]

        def finished() -> str | None:
            status = self.graphql(BACKFILL, id=backfill_id)["partitionBackfillOrError"]["status"]
            return None if status == "REQUESTED" else str(status)

        status = self.wait("the backfill", finished)
        seconds = time.perf_counter() - began
        runs = self.graphql(RUNS, filter={"tags": [{"key": "dagster/backfill", "value": backfill_id}]})
        results = runs["runsOrError"]["results"]
        if status != "COMPLETED_SUCCESS" or {run["status"] for run in results} != {"SUCCESS"}:
            raise SystemExit(f"backfill {backfill_id}: {status}, runs {[run['status'] for run in results]}")
        return started, seconds, results

    def run_sensor(self, name: str, complete: Any) -> tuple[float, float, list[dict[str, Any]]]:
        """Start sensor ``name`` and wait until ``complete()`` and no run of it is queued or going; stop it."""
        began, started = time.perf_counter(), time.time()
        selector = {**REPOSITORY, "sensorName": name}
        if self.graphql(START_SENSOR, selector=selector)["startSensor"]["__typename"] != "Sensor":
            raise SystemExit(f"could not start {name}")
        tags = {"tags": [{"key": "dagster/sensor_name", "value": name}]}

        def finished() -> list[dict[str, Any]] | None:
            if not complete():
                return None
            runs = self.graphql(RUNS, filter=tags)["runsOrError"]["results"]
            return runs if all(run["status"] in DONE for run in runs) else None

        runs = self.wait("the sensor's runs", finished, every=5.0)
        seconds = time.perf_counter() - began
        sensor_id = next(sensor["id"] for sensor in self.graphql(SENSORS, repo=REPOSITORY)["sensorsOrError"]["results"]
                         if sensor["name"] == name)
        self.graphql(STOP_SENSOR, id=sensor_id)
        if {run["status"] for run in runs} != {"SUCCESS"}:
            raise SystemExit(f"runs: {[run['status'] for run in runs]}")
        return started, seconds, runs

    def run_per_partition(self, job: str, days: list[str]) -> tuple[float, float, list[dict[str, Any]]]:
        """Launch one run of ``job`` per day, as a per-partition sensor would; wait for all of them."""
        began, started = time.perf_counter(), time.time()
        run_ids = []
        for day in days:
            launched = self.graphql(LAUNCH_RUN, params={
                "selector": {**REPOSITORY, "jobName": job}, "runConfigData": {},
                "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day}]}})["launchRun"]
            if launched["__typename"] != "LaunchRunSuccess":
                raise SystemExit(f"launch: {launched}")
            run_ids.append(launched["run"]["runId"])

        def finished() -> list[dict[str, Any]] | None:
            runs = self.graphql(RUNS, filter={"runIds": run_ids})["runsOrError"]["results"]
            return runs if all(run["status"] in DONE for run in runs) else None

        runs = self.wait("the runs", finished)
        seconds = time.perf_counter() - began
        if {run["status"] for run in runs} != {"SUCCESS"}:
            raise SystemExit(f"runs: {[run['status'] for run in runs]}")
        return started, seconds, runs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def in_process(server: EmbeddedS3, dagster_home: Path, spec: DatasetSpec) -> tuple[float, int]:
    """The range runs the sensor asks for, executed in this process; return run seconds and runs."""
    activate(server, dagster_home)
    defs = dg.Definitions.merge(build_dataset_defs(spec), dg.Definitions(resources={
        "vendor_s3": s3_resource_from_env("VENDOR_S3"), "lake_s3": s3_resource_from_env("LAKE_S3")}))
    with dg.DagsterInstance.local_temp(overrides=NO_TELEMETRY) as instance:
        _, seconds, runs = backfill(defs, instance, per_partition=False, spec=spec)
    return seconds, runs


def curated_days(server: EmbeddedS3, spec: DatasetSpec) -> int:
    """How many days of ``spec`` are curated in the lake bucket."""
    with S3Handler(server.transfer_config(show_progress=False)) as s3:
        return sum(1 for _ in s3.iter_objects(LAKE_BUCKET, f"{spec.curated.prefix}/"))


def publish(server: EmbeddedS3, spec: DatasetSpec, start: date, until: date, tickers: int | None) -> None:
    """The vendor's files of ``spec`` from ``start`` to ``until``: the sample's, or ``tickers`` rows a day."""
    with S3Handler(server.transfer_config(show_progress=False)) as vendor:
        if tickers is None:
            publish_sample(vendor, VENDOR_BUCKET, [spec], start, until)
            return
        for day in publishing_days(spec.calendar, start, until):
            vendor.put_bytes(VENDOR_BUCKET, spec.source.key(day), gzip_csv(day_aggs_frame(day, tickers)))


def _ratio(seconds: float, baseline: float) -> str:
    return f"{seconds / baseline:.2f}" if baseline else ""


def instance_yaml(concurrency: int, dequeue_interval: int | None) -> str:
    """``dagster_home/dagster.yaml`` with ``concurrency`` runs at once (backfills included), and the queue's
    dequeue interval when given."""
    config = yaml.safe_load((REPO / "dagster_home" / "dagster.yaml").read_text())
    config["concurrency"]["runs"]["max_concurrent_runs"] = concurrency
    config["concurrency"]["runs"]["tag_concurrency_limits"][0]["limit"] = concurrency
    if dequeue_interval is not None:
        config["run_coordinator"]["config"] = {"dequeue_interval_seconds": dequeue_interval}
    return yaml.safe_dump(config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executor", choices=["in_process", "multiprocess"], default="in_process")
    parser.add_argument("--concurrency", type=int, default=2, help="runs at once")
    parser.add_argument("--dequeue-interval", type=int, help="seconds between the queue's dequeues (Dagster: 5)")
    parser.add_argument("--modes", default="in-process,ranges,per-partition")
    parser.add_argument("--until", type=date.fromisoformat, default=date(2024, 12, 31), help="last vendor day")
    parser.add_argument("--start", type=date.fromisoformat, default=YEAR_START,
                        help=f"first vendor day; before {DAY_AGGS.start_date}, the code location of twenty years")
    parser.add_argument("--tickers", type=int, help="rows a vendor file holds (default: the sample's 100)")
    args = parser.parse_args()
    history = args.start < DAY_AGGS.start_date
    spec = dataclasses.replace(DAY_AGGS, start_date=HISTORY_START) if history else DAY_AGGS
    modes = args.modes.split(",")
    work = Path(tempfile.mkdtemp(prefix="lake-bench-daemon-", dir="/var/tmp"))
    server = EmbeddedS3(work / "s3", free_ports())
    server.start()
    project, dagster_home, logs = work / "project", work / "dagster_home", work / "logs"
    for folder in (project, dagster_home, logs):
        folder.mkdir()
    (dagster_home / "dagster.yaml").write_text(instance_yaml(args.concurrency, args.dequeue_interval))
    merge_env_file(project / ".env", dagster_env(server, dagster_home))
    env = {name: value for name, value in os.environ.items() if not is_setting(name)}
    layout = Layout(project, env, logs)
    try:
        server.ensure_buckets(VENDOR_BUCKET, LAKE_BUCKET)
        days = [key for key in daily_partitions(spec).get_partition_keys()
                if args.start.isoformat() <= key <= args.until.isoformat()]
        layout.up("history" if history else args.executor)
        publish(server, spec, args.start, args.until, args.tickers)
        published = publishing_days(spec.calendar, args.start, args.until)  # a closed day has no curated object
        print(f"{len(days)} partitions, {len(published)} published; executor {args.executor}; {args.concurrency} runs at once; dequeue interval "
              f"{args.dequeue_interval or 'as in dagster_home/dagster.yaml'}; logs in {logs}\n")
        print("| mode | runs | wall s | data complete s | first run starts s | runs phase s | vs in-process |"
              " sum of run durations s | median run s |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        baseline = 0.0
        for mode in modes:
            empty_lake(server)
            if mode == "in-process":
                seconds, count = in_process(server, work / "in-process-home", spec)
                data_seconds, first_start, durations = seconds, 0.0, [seconds]
                baseline = baseline or seconds
            else:
                if mode == "ranges":
                    started, seconds, runs = layout.backfill({
                        "partitionNames": days, "title": "bench",
                        "assetSelection": [{"path": ["day_aggs", "raw"]}, {"path": ["day_aggs", "curated"]}]})
                elif mode == "sensor":
                    started, seconds, runs = layout.run_sensor(
                        sensor_name(spec), lambda: curated_days(server, spec) == len(published))
                else:
                    started, seconds, runs = layout.run_per_partition(ingest_job_name(spec), days)
                count = len(runs)
                data_seconds = max(run["endTime"] for run in runs) - started
                first_start = min(run["startTime"] for run in runs) - started
                durations = sorted(run["endTime"] - run["startTime"] for run in runs)
            phase = data_seconds - first_start
            print(f"| {mode} | {count} | {seconds:.1f} | {data_seconds:.1f} | {first_start:.1f} | {phase:.1f} | "
                  f"{_ratio(phase, baseline)} | {sum(durations):.1f} | {durations[len(durations) // 2]:.1f} |",
                  flush=True)
    finally:
        layout.down()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
