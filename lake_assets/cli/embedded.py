"""What every ``lake`` command shares: the console, and the embedded server named by the global flags."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from lake_assets.local_s3 import EmbeddedS3, Ports

console = Console(width=None if sys.stdout.isatty() else 120)


def server_for(args: argparse.Namespace) -> EmbeddedS3:
    """Return the embedded server of ``--home`` and ``--port`` (not started)."""
    return EmbeddedS3(args.home / "s3", Ports(args.port))


@contextmanager
def serving(args: argparse.Namespace, keep_running: bool = False) -> Iterator[EmbeddedS3]:
    """Run the embedded server for the block, saying so when this command starts it.

    A server started here is stopped after the block unless ``keep_running``, and always when the block
    fails; one already running is left as it was.
    """
    server = server_for(args)
    started_here = server.running_pid() is None
    if started_here:
        after = "left running" if keep_running else "stopped when this command ends"
        console.print(f"starting the embedded S3 at {server.endpoint_url} ({after}; `lake s3 up` keeps it up)")
    server.start()
    try:
        yield server
    except BaseException:
        if started_here:
            server.stop()  # a command that fails or refuses leaves no server behind, even one it would keep
        raise
    if started_here and not keep_running:
        server.stop()


def print_problems(problems: list[str]) -> None:
    """Print each settings problem as ``lake config`` does, so every command names a wrong setting the same way."""
    for problem in problems:
        console.print(f"[red]error:[/] {problem}", highlight=False)
