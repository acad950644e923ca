"""Tables the ``lake`` command prints: the lake's coverage and the transfer demo's statistics."""

from __future__ import annotations

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from lake_assets.cli.demo import DemoReport
from lake_assets.lake.coverage import Coverage


def print_coverage(console: Console, rows: list[Coverage]) -> bool:
    """Print the coverage table; return True when every dataset has vendor files and all are curated."""
    table = Table(title="lake coverage, from the first to the last vendor file")
    for column in ("dataset", "first", "last", "expected", "published", "curated", "missing", "unpublished",
                   "closed", "after last", "off calendar", "quarantined", "given up"):
        table.add_column(column, justify="left" if column in ("dataset", "first", "last") else "right")
    for row in rows:
        table.add_row(row.dataset, row.first or "-", row.last or "-", str(row.expected), str(row.published),
                      str(row.curated), str(len(row.missing)), str(len(row.unpublished)), str(row.closed_days),
                      str(row.after_last), str(len(row.off_calendar)), str(len(row.quarantined)),
                      str(len(row.given_up)))
    print_whole(console, table)
    for row in rows:
        if row.missing:
            console.print(f"[yellow]{row.dataset}: missing in the lake: {', '.join(row.missing[:10])}[/]")
        if row.unpublished:
            console.print(f"[yellow]{row.dataset}: not published by the vendor: {', '.join(row.unpublished[:10])}[/]")
        if row.quarantined:
            console.print(f"[yellow]{row.dataset}: vendor corrections that did not curate, in quarantine with their "
                          f"reason (the lake keeps the last good day): {', '.join(row.quarantined[:10])}[/]")
        if row.given_up:
            console.print(f"[yellow]{row.dataset}: given up after failing for good on the vendor's current file "
                          f"(requested again when it changes; the run's log says why): "
                          f"{', '.join(row.given_up[:10])}[/]")
        if row.off_calendar:
            console.print(f"[yellow]{row.dataset}: vendor files on days that are not partitions, not curated: "
                          f"{', '.join(row.off_calendar[:10])}[/]")
    complete = all(row.complete and row.published for row in rows)
    console.print("closed: days in the window the calendar skips (weekends; holidays, recorded as closed): not "
                  "published, not missing")
    console.print("off calendar: vendor files dated on a day that is not a partition (a weekend): never curated; "
                  "fix the calendar (a real trading day) or the vendor's file")
    console.print("after last: partitions to date after the vendor's last file, not published yet; Dagster's "
                  "partition health counts expected + after last partitions, and shows these as missing")
    console.print("[green]full coverage[/]" if complete else "[red]coverage incomplete[/]")
    return complete


def print_transfer_report(console: Console, report: DemoReport, seconds: float) -> None:
    """Print what the transfer demo moved, the requests it cost, and whether every file matched."""
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


def print_whole(console: Console, table: Table) -> None:
    """Print ``table`` at the width it needs when the output is not a terminal (a log, a pipe), where a width of
    120 cut its cells (``day_ag…``); on a terminal, at the terminal's width."""
    if console.is_terminal:
        console.print(table)
        return
    needed = Measurement.get(console, console.options.update_width(1_000), table).maximum
    width, console.width = console.width, max(console.width, needed)
    try:
        console.print(table)
    finally:
        console.width = width
