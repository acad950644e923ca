"""The ``lake`` subcommands that load the Dagster definitions: the main job, coverage and the UI.

Imported only when one of them runs, so ``lake --help`` and the ``lake s3`` commands pay nothing for
Dagster or polars.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import warnings
from datetime import date, datetime, timezone
from pathlib import Path

import dagster as dg
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lake_assets.cli.daemon import QUIET_SECONDS, running_daemon, settle
from lake_assets.cli.embedded import console
from lake_assets.cli.main_job import due_verdicts, lake_coverage, publish_vendor_sample
from lake_assets.cli.report import print_coverage
from lake_assets.cli.run_report import RunTally
from lake_assets.cli.sample import unsampled
from lake_assets.cli.settled import Materializations, watched_assets, what_is_left
from lake_assets.cli.target import Target, running_on
from lake_assets.definitions import defs as load_definitions
from lake_assets.orchestration.component import declared_datasets
from lake_assets.orchestration.freshness import DUE_CHECK


def quiet_dagster() -> None:
    """Silence Dagster's BetaWarning (``backfill_policy`` is beta in 1.13) and its PreviewWarning for the per-day
    checks (``AssetCheckSpec(partitions_def=...)``, preview in 1.13 and chosen knowingly: README, "Checks"), which
    printed twice a command."""
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec",
                            category=dg.PreviewWarning)


def cmd_run(args: argparse.Namespace) -> int:
    """The main job: publish the vendor sample, run the daemon on the lake until it settles, print coverage."""
    quiet_dagster()
    with running_on(args) as target:
        _publish_sample(target, args.sample_until)
        defs = load_definitions()
        home = Path(os.environ["DAGSTER_HOME"])
        instance = dg.DagsterInstance.get()
        tally = RunTally(declared_datasets(), defs)
        began, clock = datetime.now(timezone.utc), time.perf_counter()
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress, running_daemon(home) as daemon:
            progress.console.print(f"dagster-daemon started on {home} (its log: {daemon.log}): the sensors, the run "
                                   f"queue, run retries and backfills run as in a deployment, until the lake settles "
                                   f"(nothing left for a sensor to ask for, or no run for {QUIET_SECONDS} s)")
            task = progress.add_task("runs finished", total=None)

            def on_run(record: dg.RunRecord) -> None:
                what = tally.add(record)
                progress.advance(task)
                if record.dagster_run.status != dg.DagsterRunStatus.SUCCESS:
                    progress.console.print(f"[red]run failed: {what} (run {record.dagster_run.run_id[:8]}: its log "
                                           f"in the UI, Runs)[/]")

            records = Materializations(instance, watched_assets(defs))
            why = settle(instance, daemon, began, on_run, lambda: what_is_left(target, defs, instance, records))
        for line in tally.lines():
            console.print(line)
        for name, verdict in due_verdicts(target, defs, instance).items():
            console.print(f"{name}, {DUE_CHECK} {'passed' if verdict.passed else '[yellow]warns[/]'}: {verdict.detail}")
        console.print(f"the lake settled in {time.perf_counter() - clock:.1f}s ({why}); runs are in {home} (see them "
                      f"with `make ui`)")
        complete = print_coverage(console, lake_coverage(target, defs, instance))
    return 0 if not tally.failed and complete else 1


def _publish_sample(target: Target, until: date | None) -> None:
    """Publish the generated vendor sample when the lake is the embedded server; a configured lake's vendor
    files are its own."""
    if target.server is None:
        console.print("no sample published: the configured lake's vendor files are its own")
        return
    for name, (first, last, new) in publish_vendor_sample(target, until).items():
        console.print(f"vendor bucket: {name}, {new} new files for {first} .. {last}")
    for name in unsampled(declared_datasets()):
        console.print(f"{name}: no sample generator, so no sample published; its partitions are the vendor "
                      f"files its prefix holds")


def cmd_status(args: argparse.Namespace) -> int:
    """Print each dataset's coverage; exit 1 when a published partition is missing from the lake."""
    quiet_dagster()
    with running_on(args) as target:
        home = Path(os.environ["DAGSTER_HOME"])  # no instance yet: nothing has run, so no day was given up
        rows = lake_coverage(target, load_definitions(), dg.DagsterInstance.get() if home.is_dir() else None)
    return 0 if print_coverage(console, rows) else 1


def cmd_ui(args: argparse.Namespace) -> int:
    """Replace this process with ``dagster dev`` on loopback, on the lake :func:`running_on` picks (the embedded
    server started and left running when it is the lake)."""
    with running_on(args, keep_running=True) as target:
        dagster = shutil.which("dagster", path=str(Path(sys.executable).parent)) or "dagster"
        stop = "; stop the embedded S3 with `lake s3 down`" if target.server is not None else ""
        console.print(f"Dagster UI on http://127.0.0.1:{args.ui_port}{stop}")
        workspace = args.workspace.resolve()
        # from a directory without .env: the settings are resolved already, and `dagster dev` would apply .env over
        # them again (over --embedded's, or --dagster-home)
        os.chdir(_directory_of_its_own(Path(os.environ["DAGSTER_HOME"])))
        os.execv(dagster, [dagster, "dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(args.ui_port)])
    return 0


def _directory_of_its_own(dagster_home: Path) -> Path:
    """A directory of the instance's where ``lake ui`` starts ``dagster dev``, made if missing."""
    directory = dagster_home / "lake-ui"
    directory.mkdir(parents=True, exist_ok=True)
    return directory
