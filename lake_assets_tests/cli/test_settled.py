"""When ``lake run`` stops waiting: the staleness verdict on the assets built on the lake, and the settle loop's two
rules (nothing left, or the quiet window) against a real instance."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest

from lake_assets.cli.daemon import Daemon, settle
from lake_assets.cli.settled import Made, input_window, stale_partitions

KEYS = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]


def made(run_id: str, at: float, keys: list[str] = KEYS) -> dict[str, Made]:
    """``keys`` made by one run at ``at``, recorded in their order."""
    return {key: Made(run_id, at, int(at) * 100 + n) for n, key in enumerate(keys)}


def test_a_partition_made_after_its_inputs_or_with_them_is_current() -> None:
    inputs = [(made("upstream", 10.0), (-1, 0))]
    assert stale_partitions(KEYS, made("later", 30.0), inputs, {"later": 20.0}) == []
    # one run made a day and its input, the input asset's newest record: Dagster sees it made both
    both = {**made("upstream", 10.0), KEYS[-1]: Made("both", 11.0, 5000)}
    mine = {**made("earlier", 12.0, KEYS[:3]), KEYS[-1]: Made("both", 11.5, 5001)}
    assert stale_partitions(KEYS[2:], {key: mine[key] for key in KEYS[2:]},
                            [({key: both[key] for key in KEYS[2:]}, (0, 0))], {"both": 5.0, "earlier": 11.0}) == []


def test_a_range_run_that_made_a_day_with_its_inputs_is_requested_once_more() -> None:
    """Dagster 1.13 sees that a run made a partition with its input only for the input asset's newest record, so
    ``keep_current()`` requests the range's other days again; they are left until that run has run."""
    inputs = made("range", 10.0)
    assert stale_partitions(KEYS, made("range", 10.5), [(inputs, (-1, 0))], {"range": 5.0}) == KEYS
    assert stale_partitions(KEYS, made("again", 20.0), [(inputs, (-1, 0))], {"again": 15.0}) == []


def test_a_partition_whose_input_changed_after_its_run_began_or_that_is_missing_is_stale() -> None:
    upstream = {**made("upstream", 10.0), "2024-01-02": Made("correction", 50.0)}
    mine = made("mine", 30.0, KEYS[:3])
    # the correction of the 2nd reaches the 2nd and the 3rd (a one-day look-back); the 4th was never made
    assert stale_partitions(KEYS, mine, [(upstream, (-1, 0))], {"mine": 20.0}) == KEYS[1:]


def test_a_partition_whose_input_is_missing_is_not_due() -> None:
    upstream = made("upstream", 10.0, KEYS[:2])  # the 3rd's input is not in the lake yet: not requested
    assert stale_partitions(KEYS, made("mine", 30.0, KEYS[:2]), [(upstream, (-1, 0))], {"mine": 20.0}) == []
    # the look-back clips at the first partition, as allow_nonexistent_upstream_partitions does
    assert stale_partitions(KEYS[:1], {}, [(upstream, (-3, 0))], {}) == KEYS[:1]


def test_only_time_window_and_identity_mappings_over_the_same_partitions_are_judged() -> None:
    daily = dg.DailyPartitionsDefinition("2024-01-01")
    spec = dg.AssetSpec("b", partitions_def=daily)

    def window(mapping: dg.PartitionMapping | None, partitions: dg.PartitionsDefinition = daily) -> object:
        return input_window(spec, dg.AssetDep("a", partition_mapping=mapping),
                            dg.AssetSpec("a", partitions_def=partitions))

    assert window(None) == window(dg.IdentityPartitionMapping()) == (0, 0)
    assert window(dg.TimeWindowPartitionMapping(start_offset=-3)) == (-3, 0)
    assert window(dg.AllPartitionMapping()) is None
    assert window(None, dg.DailyPartitionsDefinition("2023-01-01")) is None


def ignore(_: dg.RunRecord) -> None:
    """An ``on_run`` that does nothing."""


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    """A stand-in for the daemon: a process that runs while the test does."""
    process = subprocess.Popen(["sleep", "60"])
    yield Daemon(process, tmp_path / "daemon.log")
    process.kill()
    process.wait()


def test_settle_ends_at_once_when_nothing_is_left_else_after_the_quiet_window(daemon: Daemon) -> None:
    instance = dg.DagsterInstance.ephemeral()
    began = datetime.now(timezone.utc)
    clock = time.monotonic()
    assert settle(instance, daemon, began, ignore, left=list, quiet=30, poll=0.1) == \
        "nothing left for a sensor to ask for"
    assert time.monotonic() - clock < 5
    asked: list[int] = []
    assert settle(instance, daemon, began, ignore, left=lambda: asked.append(1) or ["a day"], quiet=1,
                  poll=0.1) == "no run for 1 s; left: a day"
    assert asked == [1]  # judged once while nothing changed


def test_after_a_failed_run_only_the_quiet_window_settles(daemon: Daemon) -> None:
    @dg.asset
    def broken() -> None:
        raise ValueError("broken")

    instance = dg.DagsterInstance.ephemeral()
    began = datetime.now(timezone.utc) - timedelta(seconds=1)
    assert not dg.materialize([broken], instance=instance, raise_on_error=False).success
    ended: list[dg.RunRecord] = []
    assert settle(instance, daemon, began, ended.append, left=list, quiet=1, poll=0.1) == \
        "no run for 1 s; a run failed"
    assert [record.dagster_run.status for record in ended] == [dg.DagsterRunStatus.FAILURE]
