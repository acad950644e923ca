"""The ``lake`` command: the main job, the lake's coverage, the Dagster UI, and the embedded S3 server.

Settings come from flags, else from ``LAKE_HOME`` (default ``./.lake``), ``LAKE_S3_PORT`` (default
18333) and ``DAGSTER_HOME`` (default ``./dagster_home``), read when the command runs, never at import.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import dagster as dg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lake_assets.cli.demo import DEMO_BUCKET, run_transfer_demo
from lake_assets.cli.main_job import SAMPLE_END, SAMPLE_START, activate, lake_coverage, publish_vendor_sample
from lake_assets.cli.report import print_coverage, print_transfer_report
from lake_assets.cli.runner import AUTOMATION_CURSOR, AutomationReport, run_automation, run_sensor_backfill
from lake_assets.lake.datasets import DATASETS
from lake_assets.local_s3 import DEFAULT_S3_PORT, EmbeddedS3, EmbeddedS3Error, Ports
from lake_assets.s3 import S3Error, S3Handler

console = Console(width=None if sys.stdout.isatty() else 120)


def _server(args: argparse.Namespace) -> EmbeddedS3:
    return EmbeddedS3(args.home / "s3", Ports(args.port))


def cmd_s3_up(args: argparse.Namespace) -> int:
    """Start the embedded server in the background and say how to reach it."""
    server = _server(args)
    server.start()
    console.print(f"embedded S3 running at [bold]{server.endpoint_url}[/] (data in {server.home / 'data'})")
    console.print("credentials: `lake s3 env`; stop it with `lake s3 down`")
    return 0


def cmd_s3_down(args: argparse.Namespace) -> int:
    """Stop the embedded server if it runs."""
    stopped = _server(args).stop()
    console.print("embedded S3 stopped" if stopped else "embedded S3 was not running")
    return 0


def cmd_s3_status(args: argparse.Namespace) -> int:
    """Report whether the server runs; exit 1 when it does not."""
    status = _server(args).status()
    state = f"running (pid {status.pid})" if status.running else "stopped"
    console.print(f"embedded S3 {state} at {status.endpoint_url}; "
                  f"{status.data_bytes / 1e6:.1f} MB stored under {status.home / 'data'}")
    return 0 if status.running else 1


def cmd_s3_cleanup(args: argparse.Namespace) -> int:
    """Abort multipart uploads left open by killed processes in every bucket of the embedded server."""
    server = _server(args)
    if server.running_pid() is None:
        console.print("embedded S3 is not running: start it with `lake s3 up`")
        return 1
    with S3Handler(server.transfer_config(show_progress=False)) as s3:
        for bucket in (b["Name"] for b in s3.client.list_buckets().get("Buckets", [])):
            aborted = s3.abort_incomplete_uploads(bucket, older_than=timedelta(minutes=args.older_than_minutes))
            console.print(f"{bucket}: aborted {len(aborted)} incomplete multipart upload(s)")
    return 0


def cmd_s3_env(args: argparse.Namespace) -> int:
    """Print shell exports that point the AWS CLI and boto3 at the embedded server."""
    server = _server(args)
    keys = server.credentials(args.identity)
    sys.stdout.write(f"export AWS_ENDPOINT_URL={server.endpoint_url}\n"
                     f"export AWS_ACCESS_KEY_ID={keys.access_key_id}\n"
                     f"export AWS_SECRET_ACCESS_KEY={keys.secret_access_key}\n"
                     "export AWS_REGION=us-east-1\n")
    return 0


@contextmanager
def _serving(args: argparse.Namespace, keep_running: bool = False) -> Iterator[EmbeddedS3]:
    """Run the embedded server for the block, stopping it after unless it already ran or must stay up."""
    server = _server(args)
    started_here = server.running_pid() is None
    server.start()
    try:
        yield server
    finally:
        if started_here and not keep_running:
            server.stop()


def cmd_run(args: argparse.Namespace) -> int:
    """The main job: publish the vendor sample, backfill it through the sensors, print coverage."""
    with _serving(args) as server:
        activate(server, args.dagster_home)
        new = publish_vendor_sample(server)
        console.print(f"vendor bucket: {new} new files for {SAMPLE_START} .. {SAMPLE_END}")
        from lake_assets.definitions import defs  # resolved now that the environment points at the server

        began = time.perf_counter()
        instance = dg.DagsterInstance.get()
        failed = 0
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            for spec in DATASETS:
                task = progress.add_task(f"{spec.name}: sensor-driven backfill", total=None)

                def on_run(what: str, partitions: int, ok: bool, task: int = task) -> None:
                    progress.advance(task, partitions)
                    if not ok:
                        progress.console.print(f"[red]run failed: {what}[/]")

                report = run_sensor_backfill(defs, instance, spec, on_run)
                failed += len(report.failed_runs)
                if report.killed_runs:
                    progress.console.print(f"{spec.name}: {report.killed_runs} run(s) of a killed `lake run` "
                                           "marked failed and retried")
                progress.console.print(f"{spec.name}, last sensor tick: {report.last_tick}")
                progress.update(task, total=report.partitions, description=(
                    f"{spec.name}: {report.runs} runs over {report.partitions} partitions in {report.ticks} "
                    f"sensor ticks, {len(report.months)} monthly rollups, {report.seconds:.1f}s"))
            failed += len(_automate(defs, instance, args.dagster_home, progress).failed_runs)
        console.print(f"backfill finished in {time.perf_counter() - began:.1f}s; runs are in "
                      f"{os.environ['DAGSTER_HOME']} (see them with `make ui`)")
        complete = print_coverage(console, lake_coverage(server, defs))
    return 0 if failed == 0 and complete else 1


def _automate(defs: dg.Definitions, instance: dg.DagsterInstance, dagster_home: Path,
              progress: Progress) -> AutomationReport:
    """Run what the automation conditions of the assets built on the lake request, showing it in ``progress``."""
    task = progress.add_task("assets built on the lake: automation conditions", total=None)

    def on_run(what: str, partitions: int, ok: bool) -> None:
        progress.advance(task, partitions)
        if not ok:
            progress.console.print(f"[red]run failed: {what}[/]")

    report = run_automation(defs, instance, dagster_home / AUTOMATION_CURSOR, on_run)
    done = ", ".join(f"{asset} {count}" for asset, count in report.partitions.items()) or "nothing requested"
    progress.update(task, total=sum(report.partitions.values()), description=(
        f"assets built on the lake: {report.runs} runs in {report.evaluations} evaluations ({done}), "
        f"{report.seconds:.1f}s"))
    return report


def cmd_status(args: argparse.Namespace) -> int:
    """Print each dataset's coverage; exit 1 when a published partition is missing from the lake."""
    with _serving(args) as server:
        activate(server, args.dagster_home)
        from lake_assets.definitions import defs

        rows = lake_coverage(server, defs)
    return 0 if print_coverage(console, rows) else 1


def cmd_ui(args: argparse.Namespace) -> int:
    """Start the embedded S3 (left running) and replace this process with ``dagster dev`` on loopback."""
    with _serving(args, keep_running=True) as server:
        activate(server, args.dagster_home)
    dagster = shutil.which("dagster", path=str(Path(sys.executable).parent)) or "dagster"
    console.print(f"Dagster UI on http://127.0.0.1:{args.ui_port} (S3 at {server.endpoint_url}; "
                  "stop it with `lake s3 down`)")
    os.execv(dagster, [dagster, "dev", "-w", str(args.workspace), "-h", "127.0.0.1", "-p", str(args.ui_port)])
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the transfer demo on the embedded server, starting it (and stopping it after) if needed."""
    with _serving(args, keep_running=args.keep_running) as server:
        server.ensure_buckets(DEMO_BUCKET)
        began = time.perf_counter()
        report = run_transfer_demo(server.transfer_config(), args.home / "demo", small_files=args.files,
                                   small_size=args.small_kib * 1024, large_size=args.large_mib * 1024 * 1024)
        print_transfer_report(console, report, time.perf_counter() - began)
    return 0 if report.failed == 0 and not report.mismatched else 1


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``lake`` command."""
    parser = argparse.ArgumentParser(prog="lake", description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("LAKE_HOME", ".lake")),
                        help="project data directory (env LAKE_HOME, default ./.lake)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LAKE_S3_PORT", DEFAULT_S3_PORT)),
                        help=f"S3 port of the embedded server; it also uses the next four ports and each "
                             f"of the five plus 10000 (env LAKE_S3_PORT, default {DEFAULT_S3_PORT})")
    parser.add_argument("--dagster-home", type=Path, default=Path(os.environ.get("DAGSTER_HOME", "dagster_home")),
                        help="Dagster instance directory (env DAGSTER_HOME, default ./dagster_home)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True)

    s3 = commands.add_parser("s3", help="run the embedded S3 server (SeaweedFS)")
    s3_commands = s3.add_subparsers(dest="action", required=True)
    s3_commands.add_parser("up", help="start it in the background").set_defaults(func=cmd_s3_up)
    s3_commands.add_parser("down", help="stop it").set_defaults(func=cmd_s3_down)
    s3_commands.add_parser("status", help="say whether it runs").set_defaults(func=cmd_s3_status)
    cleanup = s3_commands.add_parser("cleanup", help="abort multipart uploads left open by killed processes")
    cleanup.add_argument("--older-than-minutes", type=int, default=60, help="spare younger uploads (default 60)")
    cleanup.set_defaults(func=cmd_s3_cleanup)
    env = s3_commands.add_parser("env", help="print AWS_* exports for it")
    env.add_argument("--identity", choices=("admin", "reader"), default="admin")
    env.set_defaults(func=cmd_s3_env)

    commands.add_parser("run", help="the main job: publish the vendor sample and backfill the lake through "
                                    "the sensors").set_defaults(func=cmd_run)
    commands.add_parser("status", help="per-dataset coverage of the lake").set_defaults(func=cmd_status)
    ui = commands.add_parser("ui", help="the Dagster UI (dagster dev) with the embedded S3")
    ui.add_argument("--ui-port", type=int, default=3000, help="UI port on 127.0.0.1 (default 3000)")
    ui.add_argument("--workspace", type=Path, default=Path("workspace.yaml"), help="workspace file")
    ui.set_defaults(func=cmd_ui)

    demo = commands.add_parser("transfer-demo", help="upload, download and verify a sample set on the embedded server")
    demo.add_argument("--files", type=int, default=500, help="number of small files (default 500)")
    demo.add_argument("--small-kib", type=int, default=64, help="size of each small file in KiB (default 64)")
    demo.add_argument("--large-mib", type=int, default=96, help="size of the large file in MiB (default 96)")
    demo.add_argument("--keep-running", action="store_true", help="leave the server running afterwards")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lake`` command."""
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", category=dg.BetaWarning)  # backfill_policy is beta in Dagster 1.13
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    # the in-process automation evaluation logs each asset's requested partitions at INFO otherwise
    automation_log = logging.getLogger("dagster.automation_condition_tester")
    automation_log.setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return args.func(args)
    except (EmbeddedS3Error, S3Error, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
