"""The ``lake`` subcommands that load the Dagster definitions: the main job, coverage and the UI.

Imported only when one of them runs, so ``lake --help`` and the ``lake s3`` commands pay nothing for
Dagster or polars.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
import warnings
from datetime import date
from pathlib import Path

import dagster as dg
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lake_assets.cli.embedded import console
from lake_assets.cli.main_job import lake_coverage, publish_vendor_sample
from lake_assets.cli.report import print_coverage
from lake_assets.cli.runner import (
    AUTOMATION_CURSOR,
    AutomationReport,
    run_automation,
    run_due_checks,
    run_sensor_backfill,
)
from lake_assets.cli.sample import unsampled
from lake_assets.cli.target import Target, running_on
from lake_assets.definitions import defs as load_definitions
from lake_assets.orchestration.component import declared_datasets


def quiet_dagster(verbose: bool) -> None:
    """Silence Dagster's BetaWarning (``backfill_policy`` is beta in 1.13), its PreviewWarning for the per-day
    checks (``AssetCheckSpec(partitions_def=...)``, preview in 1.13 and chosen knowingly: README, "Checks"),
    which printed twice a run, and its per-asset automation logs."""
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec",
                            category=dg.PreviewWarning)
    automation_log = logging.getLogger("dagster.automation_condition_tester")
    automation_log.setLevel(logging.DEBUG if verbose else logging.WARNING)


def cmd_run(args: argparse.Namespace) -> int:
    """The main job: publish the vendor sample, backfill it through the sensors, print coverage."""
    quiet_dagster(args.verbose)
    with running_on(args) as target:
        _publish_sample(target, args.sample_until)
        defs = load_definitions()
        began = time.perf_counter()
        instance = dg.DagsterInstance.get()
        failed = 0
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            for spec in declared_datasets():
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
                for check in run_due_checks(defs, instance, spec):
                    verdict = "passed" if check.passed else "[yellow]warns[/]"
                    progress.console.print(f"{spec.name}, {check.check_name} {verdict}: "
                                           f"{check.metadata['detail'].value}")
                progress.update(task, total=report.partitions, description=(
                    f"{spec.name}: {report.runs} runs over {report.partitions} partitions in {report.ticks} "
                    f"sensor ticks, {len(report.months)} monthly rollups, {report.seconds:.1f}s"))
            failed += len(_automate(defs, instance, Path(os.environ["DAGSTER_HOME"]), progress).failed_runs)
        console.print(f"backfill finished in {time.perf_counter() - began:.1f}s; runs are in "
                      f"{os.environ['DAGSTER_HOME']} (see them with `make ui`)")
        complete = print_coverage(console, lake_coverage(target, defs))
    return 0 if failed == 0 and complete else 1


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
    quiet_dagster(args.verbose)
    with running_on(args) as target:
        rows = lake_coverage(target, load_definitions())
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
