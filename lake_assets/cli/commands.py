"""The ``lake`` command: the main job, the lake's coverage, the Dagster UI, the embedded S3 and its settings.

Settings come from flags, else from ``LAKE_HOME`` (default ``./.lake``), ``LAKE_S3_PORT`` (default
18333) and ``DAGSTER_HOME`` (from the environment or ``.env``; default ``./dagster_home``), read when the command
runs, never at import.
Dagster and polars are imported only by the subcommands that run the definitions (:mod:`lake_assets.cli.jobs`),
boto3 only by those that talk to S3: ``lake --help``, ``lake config`` and ``lake s3 status`` answer without them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path

from lake_assets.cli.embedded import console, print_problems, server_for, serving
from lake_assets.cli.env_file import (
    LAKE_BUCKET,
    VENDOR_BUCKET,
    check_settings,
    dagster_env,
    dagster_home,
    effective_environment,
    merge_env_file,
    probe_settings,
    shadowed_by_env_file,
)
from lake_assets.cli.target import SettingsRefused
from lake_assets.local_s3 import DEFAULT_S3_PORT, EmbeddedS3Error
from lake_assets.local_s3.server import LOCAL_REGION
from lake_assets.s3 import S3Error

Command = Callable[[argparse.Namespace], int]


def cmd_s3_up(args: argparse.Namespace) -> int:
    """Start the embedded server in the background with the code location's buckets, and say how to reach it."""
    server = server_for(args)
    server.start()
    server.ensure_buckets(VENDOR_BUCKET, LAKE_BUCKET)
    console.print(f"embedded S3 running at [bold]{server.endpoint_url}[/] with buckets {VENDOR_BUCKET} and "
                  f"{LAKE_BUCKET} (data in {server.home / 'data'})")
    console.print("settings for Dagster: `lake s3 env --dagster --write .env`; stop it with `lake s3 down`")
    return 0


def cmd_s3_down(args: argparse.Namespace) -> int:
    """Stop the embedded server if it runs."""
    stopped = server_for(args).stop()
    console.print("embedded S3 stopped" if stopped else "embedded S3 was not running")
    return 0


def cmd_s3_status(args: argparse.Namespace) -> int:
    """Report whether the server runs; exit 1 when it does not."""
    status = server_for(args).status()
    state = f"running (pid {status.pid})" if status.running else "stopped"
    console.print(f"embedded S3 {state} at {status.endpoint_url}; "
                  f"{status.data_bytes / 1e6:.1f} MB stored under {status.home / 'data'}")
    return 0 if status.running else 1


def cmd_s3_cleanup(args: argparse.Namespace) -> int:
    """Abort multipart uploads left open by killed processes in every bucket of the embedded server."""
    server = server_for(args)
    if server.running_pid() is None:
        console.print("embedded S3 is not running: start it with `lake s3 up`")
        return 1
    from lake_assets.s3 import S3Handler  # boto3: only the commands that move objects import it

    with S3Handler(server.transfer_config(show_progress=False)) as s3:
        for bucket in (b["Name"] for b in s3.client.list_buckets().get("Buckets", [])):
            aborted = s3.abort_incomplete_uploads(bucket, older_than=timedelta(minutes=args.older_than_minutes))
            console.print(f"{bucket}: aborted {len(aborted)} incomplete multipart upload(s)")
    return 0


def cmd_s3_env(args: argparse.Namespace) -> int:
    """Print how to reach the embedded server: AWS_* exports, or with ``--dagster`` the code location's settings."""
    server = server_for(args)
    if args.dagster:
        lines = dagster_env(server, dagster_home(args.dagster_home, effective_environment(Path(".env"))),
                            args.identity)
        if args.write is None:
            sys.stdout.write("".join(f"{name}={value}\n" for name, value in lines.items()))
            return 0
        changed = merge_env_file(args.write, lines)
        console.print(f"{args.write}: {len(changed)} setting(s) written ({', '.join(changed) or 'none changed'}); "
                      "`dagster dev` and the other dagster commands read it from the project root")
        return 0
    keys = server.credentials(args.identity)
    sys.stdout.write(f"export AWS_ENDPOINT_URL={server.endpoint_url}\n"
                     f"export AWS_ACCESS_KEY_ID={keys.access_key_id}\n"
                     f"export AWS_SECRET_ACCESS_KEY={keys.secret_access_key}\n"
                     f"export AWS_REGION={LOCAL_REGION}\n"
                     f"export AWS_DEFAULT_REGION={LOCAL_REGION}\n")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    """Check the code location's settings in the environment and ``--env-file``; print them, secrets hidden;
    with ``--check``, also reach each bucket with its identity."""
    environ = effective_environment(args.env_file)
    report, problems = check_settings(environ)
    if args.check:
        reached, unreachable = probe_settings(environ)
        report, problems = report + reached, problems + unreachable
    for line in report + [f"note: {line}" for line in shadowed_by_env_file(args.env_file)]:
        console.print(line, highlight=False, markup=False)
    print_problems(problems)
    return 2 if problems else 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the transfer demo on the embedded server, starting it (and stopping it after) if needed."""
    from lake_assets.cli.demo import DEMO_BUCKET, run_transfer_demo
    from lake_assets.cli.report import print_transfer_report

    with serving(args, keep_running=args.keep_running) as server:
        server.ensure_buckets(DEMO_BUCKET)
        began = time.perf_counter()
        report = run_transfer_demo(server.transfer_config(), args.home / "demo", small_files=args.files,
                                   small_size=args.small_kib * 1024, large_size=args.large_mib * 1024 * 1024)
        print_transfer_report(console, report, time.perf_counter() - began)
    return 0 if report.failed == 0 and not report.mismatched else 1


def _job(name: str) -> Command:
    """Return a command that imports :mod:`lake_assets.cli.jobs` (Dagster, polars) only when it runs."""
    def run(args: argparse.Namespace) -> int:
        command: Command = getattr(importlib.import_module("lake_assets.cli.jobs"), name)
        return command(args)
    return run


def _add(commands: argparse._SubParsersAction, name: str, func: Command, summary: str,
         details: str) -> argparse.ArgumentParser:
    """Add subcommand ``name``: ``summary`` in the list of commands, ``summary`` and ``details`` in its ``--help``."""
    parser = commands.add_parser(name, help=summary, description=f"{summary[0].upper()}{summary[1:]}. {details}")
    parser.set_defaults(func=func)
    return parser


def _add_s3_commands(commands: argparse._SubParsersAction) -> None:
    s3 = commands.add_parser("s3", help="the embedded S3 server (SeaweedFS on loopback)", description=(
        "Start, stop and inspect the embedded S3 server: SeaweedFS on 127.0.0.1, data under --home/s3, "
        "access keys required. None of these commands loads Dagster."))
    s3_commands = s3.add_subparsers(dest="action", required=True)
    _add(s3_commands, "up", cmd_s3_up, "start it in the background",
         "It keeps running after this command (stop it with `lake s3 down`); creates its keys on first start "
         "and the code location's buckets, vendor and lake, when missing.")
    _add(s3_commands, "down", cmd_s3_down, "stop it", "Stops the server started by `lake s3 up` or `lake ui`.")
    _add(s3_commands, "status", cmd_s3_status, "say whether it runs and how much it stores",
         "Starts nothing; exits 1 when the server is not running.")
    cleanup = _add(s3_commands, "cleanup", cmd_s3_cleanup, "abort multipart uploads left open by killed processes",
                   "Starts nothing: needs the server running; aborts uploads older than --older-than-minutes in "
                   "every bucket.")
    cleanup.add_argument("--older-than-minutes", type=int, default=60, help="spare younger uploads (default 60)")
    env = _add(s3_commands, "env", cmd_s3_env, "print the settings that reach it",
               "Without flags: AWS_* shell exports for the AWS CLI and boto3. With --dagster: the VENDOR_S3_*, "
               "LAKE_S3_* and DAGSTER_HOME lines the code location reads, for a .env file (--write merges them "
               "into one, keeping its other lines). Starts nothing; creates the server's keys if none exist yet.")
    env.add_argument("--identity", choices=("admin", "reader"), default="admin", help="whose keys (default admin)")
    env.add_argument("--dagster", action="store_true", help="the code location's settings instead of AWS_* exports")
    env.add_argument("--write", type=Path, metavar="FILE", help="with --dagster: merge them into FILE (e.g. .env)")


#: How ``lake run``, ``lake status`` and ``lake ui`` pick their lake (:mod:`lake_assets.cli.target`).
_LAKE_RULE = ("It runs on the configured lake when LAKE_S3_BUCKET is set in the environment or --env-file (checked "
              "as `lake config --check` checks it), else (or with --embedded) on the embedded S3, and says which.")


def _add_lake_choice(parser: argparse.ArgumentParser) -> None:
    """The flags of the commands that run the code location on a lake: which ``.env``, and ``--embedded``."""
    parser.add_argument("--env-file", type=Path, default=Path(".env"),
                        help="the .env file read over the environment, as Dagster reads it (default ./.env)")
    parser.add_argument("--embedded", action="store_true",
                        help="run on the embedded S3 with its own settings, whatever lake is configured")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``lake`` command."""
    parser = argparse.ArgumentParser(prog="lake", description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("LAKE_HOME", ".lake")),
                        help="project data directory (env LAKE_HOME, default ./.lake)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LAKE_S3_PORT", DEFAULT_S3_PORT)),
                        help=f"S3 port of the embedded server; it also uses the next four ports and each "
                             f"of the five plus 10000 (env LAKE_S3_PORT, default {DEFAULT_S3_PORT})")
    parser.add_argument("--dagster-home", type=Path,
                        help="Dagster instance directory (default: DAGSTER_HOME from the environment or .env, as "
                             "Dagster's commands read it, else ./dagster_home)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_s3_commands(commands)
    run = _add(commands, "run", _job("cmd_run"), "the main job: publish the vendor sample and backfill the lake",
               f"{_LAKE_RULE} On the embedded S3 (started if it is not running, and stopped after) it publishes "
               "generated vendor files from each dataset's start date to its newest day due (its vendor is up to "
               "date); on a configured lake the vendor's files are its own. Then it runs dagster-daemon on the "
               "instance until the lake settles (the sensors, the run queue, run retries and backfills, as a "
               "deployment runs them), and prints what the runs did, the due verdicts and coverage. "
               "Runs are recorded in --dagster-home; exits 1 when a run failed or a published day is missing, 2 "
               "when a setting is wrong.")
    _add_lake_choice(run)
    run.add_argument("--sample-until", type=date.fromisoformat, metavar="YYYY-MM-DD",
                     help="publish the sample only up to this day (a vendor that lags; default: each dataset's "
                          "newest day due)")
    _add_lake_choice(_add(commands, "status", _job("cmd_status"), "per-dataset coverage of the lake",
                          f"{_LAKE_RULE} Lists the vendor's and the lake's objects and prints, per dataset, the days "
                          "published, curated and missing. Uses the running embedded S3, or starts it for the report "
                          "and stops it after (and says so); exits 1 when a published day is missing, 2 when a "
                          "setting is wrong."))
    ui = _add(commands, "ui", _job("cmd_ui"), "the Dagster UI (dagster dev) on the lake",
              f"{_LAKE_RULE} Starts the embedded S3 when it is the lake (left running: `lake s3 down` stops it), "
              "then becomes `dagster dev` on 127.0.0.1 with the webserver, the daemon (sensors, schedules, "
              "backfills) and the code location; a wrong setting stops it first, with nothing left running.")
    _add_lake_choice(ui)
    ui.add_argument("--ui-port", type=int, default=3000, help="UI port on 127.0.0.1 (default 3000)")
    ui.add_argument("--workspace", type=Path, default=Path("workspace.yaml"), help="workspace file")
    config = _add(commands, "config", cmd_config, "check the code location's S3 settings",
                  "Reads VENDOR_S3_* and LAKE_S3_* from the environment and --env-file as `dagster dev` would, "
                  "prints what each resource will use (secrets hidden) and names every missing or wrong "
                  "variable; exits 2 then. Starts nothing; contacts no server unless --check.")
    config.add_argument("--env-file", type=Path, default=Path(".env"), help="the .env file (default ./.env)")
    config.add_argument("--check", action="store_true",
                        help="also reach each bucket with its identity: it exists, lists, and (the lake) takes a "
                             "write; names the missing bucket, rejected keys or missing permission")
    demo = _add(commands, "transfer-demo", cmd_demo, "upload, download and verify a sample set on the embedded S3",
                "Starts the embedded S3 if needed (stopped after unless --keep-running); files under --home/demo.")
    demo.add_argument("--files", type=int, default=500, help="number of small files (default 500)")
    demo.add_argument("--small-kib", type=int, default=64, help="size of each small file in KiB (default 64)")
    demo.add_argument("--large-mib", type=int, default=96, help="size of the large file in MiB (default 96)")
    demo.add_argument("--keep-running", action="store_true", help="leave the server running afterwards")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lake`` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except SettingsRefused as refused:
        print_problems(refused.problems)
        return 2
    except (EmbeddedS3Error, S3Error, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
