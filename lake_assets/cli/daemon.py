"""``lake run``'s executor: the real ``dagster-daemon`` on the instance, until the lake settles.

What ``lake run`` runs is what a deployment runs: the daemon ticks the sensors (missing partitions, rollups,
freshness, and the automation sensor of the assets built on the lake), queues their runs under the instance's
limits (``dagster.yaml``), retries runs whose process died, monitors them and splits backfills. ``lake run``
starts it and its code server, watches the instance's run records (public API only), and stops the daemon once the
lake has settled: no run queued or running, and either the lake and the instance show nothing left for a sensor to
ask for (:mod:`lake_assets.cli.settled`), or no run was created or ended for :data:`QUIET_SECONDS`, longer than
every sensor's interval, so that each sensor has ticked on what the last run left and asked for nothing more.

The daemon runs in a session of its own, from a directory with no ``.env`` (the settings are resolved already and
in its environment), and dies with ``lake run``: stopped on the way out, and sent SIGTERM by the kernel if ``lake
run`` is killed (Linux's parent-death signal). Its code server then lets the runs in progress finish before it
exits, so a killed ``lake run`` leaves no half-done run behind; the next one waits for them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dagster as dg

from lake_assets.orchestration.automation import AUTOMATION_SECONDS
from lake_assets.orchestration.freshness import FRESHNESS_TICK_SECONDS
from lake_assets.orchestration.sensors import TICK_SECONDS

#: Seconds between the iterations of Dagster's backfill daemon, which launches the runs of a backfill the automation
#: sensor requested (a backfill is not visible through the public instance API until it has a run).
BACKFILL_DAEMON_SECONDS = 30
#: Seconds with no run queued, running, created or ended after which the lake has settled: every sensor ticks at
#: least once in that time, on what the last run left, and a backfill its tick requested has its first run.
QUIET_SECONDS = max(TICK_SECONDS, AUTOMATION_SECONDS, FRESHNESS_TICK_SECONDS) + BACKFILL_DAEMON_SECONDS + 15
#: The code location the daemon serves: the one ``workspace.yaml`` names, under the same location name, so the
#: sensors' cursors and run history are the ones ``dagster dev`` and a deployment use.
WORKSPACE = """load_from:
  - python_module:
      module_name: lake_assets.definitions
      location_name: lake_assets
"""
#: Seconds the daemon is given to stop before it is killed.
STOP_SECONDS = 30.0
_FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
#: What the daemon is still working on: a run left NOT_STARTED (created, never submitted) would wait for ever.
_ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
           dg.DagsterRunStatus.CANCELING]


class DaemonExited(RuntimeError):
    """The daemon stopped by itself before the lake settled."""


@dataclass(frozen=True)
class Daemon:
    """A running ``dagster-daemon`` and where it logs."""

    process: subprocess.Popen[bytes]
    log: Path

    def check(self) -> None:
        """Raise :class:`DaemonExited`, with the end of its log, if the daemon is not running."""
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise DaemonExited(f"dagster-daemon exited with {self.process.returncode}; the end of {self.log}:\n{tail}")


#: Run as ``python -c``: ask Linux for SIGTERM when the parent (``lake run``, pid ``argv[1]``) dies, however it dies,
#: then become the command ``argv[2:]`` (the request survives ``exec``); exits if the parent is already gone.
DIE_WITH_PARENT = """
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)
os.execv(sys.argv[2], sys.argv[2:])
"""


@contextmanager
def running_daemon(dagster_home: Path) -> Iterator[Daemon]:
    """Run ``dagster-daemon`` on the instance at ``dagster_home`` (this process's environment: its settings) for the
    block; its workspace file and log are in ``dagster_home/lake-run``."""
    directory = dagster_home / "lake-run"
    directory.mkdir(parents=True, exist_ok=True)
    workspace = directory / "workspace.yaml"
    workspace.write_text(WORKSPACE)
    log = directory / "daemon.log"
    executable = Path(sys.executable).parent / "dagster-daemon"
    with log.open("ab") as out:
        command = [str(executable), "run", "-w", str(workspace)]
        if sys.platform.startswith("linux"):
            command = [sys.executable, "-c", DIE_WITH_PARENT, str(os.getpid()), *command]
        process = subprocess.Popen(command, cwd=directory, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield Daemon(process, log)
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the daemon (SIGTERM, then SIGKILL after :data:`STOP_SECONDS`); its code server lets runs in progress
    finish, then exits."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def settle(instance: dg.DagsterInstance, daemon: Daemon, began: datetime, on_run: Callable[[dg.RunRecord], None],
           left: Callable[[], list[str]] | None = None, quiet: float = QUIET_SECONDS, poll: float = 1.0) -> str:
    """Wait until the lake settles under ``daemon``: no run queued or running (those of an earlier, killed ``lake
    run`` included), and either nothing ``left`` for a sensor to ask for (judged once each time the runs fall
    idle, and only while no run has failed; see :mod:`lake_assets.cli.settled`) or no run created or ended for
    ``quiet`` seconds. ``on_run`` is called once for each run created since ``began`` as it ends; returns which of
    the two settled it (with what was left, after the quiet window)."""
    ended: set[str] = set()
    created, failed, judged, remaining = 0, False, None, []
    calm_since = time.monotonic()
    while True:
        daemon.check()
        runs = instance.get_run_records(dg.RunsFilter(created_after=began), ascending=True)
        for record in runs:
            if record.dagster_run.status in _FINISHED and record.dagster_run.run_id not in ended:
                ended.add(record.dagster_run.run_id)
                failed = failed or record.dagster_run.status != dg.DagsterRunStatus.SUCCESS
                on_run(record)
                calm_since = time.monotonic()
        if len(runs) != created:
            created, calm_since = len(runs), time.monotonic()
        active = instance.get_run_records(dg.RunsFilter(statuses=_ACTIVE), limit=1)
        if active:
            calm_since = time.monotonic()
        elif time.monotonic() - calm_since >= quiet:
            return f"no run for {quiet:.0f} s" + ("" if left is None else "; a run failed" if failed
                                                   else f"; left: {'; '.join(remaining)}")
        elif left is not None and not failed and judged != calm_since:
            judged, remaining = calm_since, left()
            if not remaining:
                return "nothing left for a sensor to ask for"
        time.sleep(poll)
