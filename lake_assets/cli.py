"""The ``lake`` command: run the embedded S3 server and the demo.

Settings come from flags, else from ``LAKE_HOME`` (default ``./.lake``) and ``LAKE_S3_PORT``
(default 18333), read when the command runs, never at import.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lake_assets.demo import DEMO_BUCKET, DemoReport, run_transfer_demo
from lake_assets.local_s3 import DEFAULT_S3_PORT, EmbeddedS3, EmbeddedS3Error, Ports
from lake_assets.s3 import S3Error

console = Console()


def _server(args: argparse.Namespace) -> EmbeddedS3:
    return EmbeddedS3(args.home / "s3", Ports(args.port))


def cmd_up(args: argparse.Namespace) -> int:
    """Start the embedded server in the background and say how to reach it."""
    server = _server(args)
    server.start()
    console.print(f"embedded S3 running at [bold]{server.endpoint_url}[/] (data in {server.home / 'data'})")
    console.print("credentials: `lake s3 env`; stop it with `lake s3 down`")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    """Stop the embedded server if it runs."""
    stopped = _server(args).stop()
    console.print("embedded S3 stopped" if stopped else "embedded S3 was not running")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Report whether the server runs; exit 1 when it does not."""
    status = _server(args).status()
    state = f"running (pid {status.pid})" if status.running else "stopped"
    console.print(f"embedded S3 {state} at {status.endpoint_url}; "
                  f"{status.data_bytes / 1e6:.1f} MB stored under {status.home / 'data'}")
    return 0 if status.running else 1


def cmd_env(args: argparse.Namespace) -> int:
    """Print shell exports that point the AWS CLI and boto3 at the embedded server."""
    server = _server(args)
    keys = server.credentials(args.identity)
    sys.stdout.write(f"export AWS_ENDPOINT_URL={server.endpoint_url}\n"
                     f"export AWS_ACCESS_KEY_ID={keys.access_key_id}\n"
                     f"export AWS_SECRET_ACCESS_KEY={keys.secret_access_key}\n"
                     "export AWS_REGION=us-east-1\n")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the transfer demo on the embedded server, starting it (and stopping it after) if needed."""
    server = _server(args)
    started_here = server.running_pid() is None
    server.start()
    try:
        server.ensure_buckets(DEMO_BUCKET)
        began = time.perf_counter()
        report = run_transfer_demo(server.transfer_config(), args.home / "demo", small_files=args.files,
                                   small_size=args.small_kib * 1024, large_size=args.large_mib * 1024 * 1024)
        _print_report(report, time.perf_counter() - began)
    finally:
        if started_here and not args.keep_running:
            server.stop()
    return 0 if report.failed == 0 and not report.mismatched else 1


def _print_report(report: DemoReport, seconds: float) -> None:
    table = Table(title=f"transfer demo: {report.files} files, {report.bytes / 1e6:.1f} MB, {seconds:.1f}s")
    table.add_column("phase")
    for column in ("requests", "retries", "MB moved", "done", "skipped", "failed"):
        table.add_column(column, justify="right")
    for phase, stats in (("upload", report.upload_stats), ("download", report.download_stats)):
        moved = stats["bytes_uploaded"] + stats["bytes_downloaded"]
        done = stats["uploaded"] + stats["downloaded"]
        table.add_row(phase, str(stats["total_requests"]), str(stats["retries"]), f"{moved / 1e6:.1f}",
                      str(done), str(stats["skipped"]), str(stats["failed"]))
    console.print(table)
    for phase, stats in (("upload", report.upload_stats), ("download", report.download_stats)):
        console.print(f"{phase} requests by type: {stats['requests']}")
    verdict = "[green]all files verified byte-identical[/]" if not report.mismatched else \
        f"[red]{len(report.mismatched)} files differ: {report.mismatched[:5]}[/]"
    console.print(verdict)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``lake`` command."""
    parser = argparse.ArgumentParser(prog="lake", description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("LAKE_HOME", ".lake")),
                        help="project data directory (env LAKE_HOME, default ./.lake)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LAKE_S3_PORT", DEFAULT_S3_PORT)),
                        help=f"S3 port of the embedded server; it also uses the next four ports and each "
                             f"of the five plus 10000 (env LAKE_S3_PORT, default {DEFAULT_S3_PORT})")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True)

    s3 = commands.add_parser("s3", help="run the embedded S3 server (SeaweedFS)")
    s3_commands = s3.add_subparsers(dest="action", required=True)
    s3_commands.add_parser("up", help="start it in the background").set_defaults(func=cmd_up)
    s3_commands.add_parser("down", help="stop it").set_defaults(func=cmd_down)
    s3_commands.add_parser("status", help="say whether it runs").set_defaults(func=cmd_status)
    env = s3_commands.add_parser("env", help="print AWS_* exports for it")
    env.add_argument("--identity", choices=("admin", "reader"), default="admin")
    env.set_defaults(func=cmd_env)

    demo = commands.add_parser("demo", help="upload, download and verify a sample set on the embedded server")
    demo.add_argument("--files", type=int, default=500, help="number of small files (default 500)")
    demo.add_argument("--small-kib", type=int, default=64, help="size of each small file in KiB (default 64)")
    demo.add_argument("--large-mib", type=int, default=96, help="size of the large file in MiB (default 96)")
    demo.add_argument("--keep-running", action="store_true", help="leave the server running afterwards")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lake`` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (EmbeddedS3Error, S3Error, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
