"""Failed requests heal by themselves: the sensor, ticked by the in-process runner against a real Dagster
instance and the embedded S3, retries a request after its backoff once the lake can be written again,
and gives a vendor file that never curates up after its last attempt, until the vendor corrects it.

The sensors read the time from a clock the test moves on past a backoff instead of sleeping through it, so the
policy is the shipped one; everything else is what `lake run` and the daemon run.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest

from lake_assets.cli.main_job import dataset_coverage
from lake_assets.lake import planning
from lake_assets.lake.coverage import Coverage
from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.local_s3 import EmbeddedS3
from lake_assets.local_s3.server import LOCAL_REGION
from lake_assets.orchestration import healing, retries, tags
from lake_assets.orchestration.factory import build_dataset_defs
from lake_assets.orchestration.partitions import daily_partitions
from lake_assets.orchestration.resources import S3TransferResource
from lake_assets.orchestration.retries import retry_budget
from lake_assets.s3 import S3TransferConfig
from lake_assets_tests.cli.test_cli import ROOT
from lake_assets_tests.conftest import publish
from lake_assets_tests.faultproxy import FaultProxy
from lake_assets_tests.in_process import BackfillReport, run_sensor_backfill
from lake_assets_tests.orchestration.test_checks import raw_and_curated
from lake_assets_tests.orchestration.test_lake import JAN

pytestmark = pytest.mark.integration


class SteppingClock:
    """The sensors' clock: the real time, except that the first reading after :meth:`past_backoff` is that much later
    (the tick after the wait). The runs' own times stay real, so a later backoff is measured from them as under the
    daemon; ``waited`` is how far the test has stepped in all."""

    def __init__(self) -> None:
        self.step = self.waited = 0.0

    def __call__(self) -> float:
        now, self.step = time.time() + self.step, 0.0
        return now

    def past_backoff(self, attempts: int) -> None:
        """Step past the shipped policy's wait after a request's ``attempts``-th failed run."""
        self.step = healing.HEALING.delay_after(attempts) + 1.0
        self.waited += self.step


CLOCK = SteppingClock()


@pytest.fixture(autouse=True)
def _clock_at_the_real_time() -> None:
    CLOCK.step = CLOCK.waited = 0.0


@pytest.fixture
def instance(tmp_path: Path) -> dg.DagsterInstance:
    """A Dagster instance of the test's own (sqlite in ``tmp_path``).

    Not a context manager: entering one sets process-wide state that outlives it (Dagster's current
    definitions-state storage), which breaks the definitions built by later tests.
    """
    return dg.DagsterInstance.local_temp(str(tmp_path), overrides={"telemetry": {"enabled": False}})


def backfill(resources: dict[str, S3TransferResource], instance: dg.DagsterInstance) -> BackfillReport:
    defs = dg.Definitions.merge(build_dataset_defs(DAY_AGGS, CLOCK), dg.Definitions(resources=resources))
    return run_sensor_backfill(defs, instance, DAY_AGGS, lambda *_: None)


def lake_status(resources: dict[str, S3TransferResource], instance: dg.DagsterInstance) -> Coverage:
    """``day_aggs``'s coverage as ``lake status`` reports it, over January's partitions."""
    keys = daily_partitions(DAY_AGGS).get_partition_keys(current_time=datetime(2024, 2, 1, tzinfo=timezone.utc))
    with resources["vendor_s3"].open() as vendor, resources["lake_s3"].open() as store:
        return dataset_coverage(DAY_AGGS, keys, (vendor, resources["vendor_s3"].bucket),
                                (store, resources["lake_s3"].bucket), instance)


def curated_days(resources: dict[str, S3TransferResource]) -> int:
    with resources["lake_s3"].open() as store:
        return sum(1 for _ in store.iter_objects(resources["lake_s3"].bucket, DAY_AGGS.curated.listing_prefix))


def runs_of(instance: dg.DagsterInstance) -> list[tuple[str, str]]:
    records = instance.get_run_records(dg.RunsFilter(tags={tags.SENSOR_TAG: "day_aggs_missing_partitions"}),
                                       ascending=True)
    return [(r.dagster_run.tags[tags.ATTEMPT_TAG], r.dagster_run.status.value) for r in records]


def test_a_request_that_failed_while_the_lake_was_read_only_heals_after_its_backoff(
        seaweed: EmbeddedS3, lake: dict[str, S3TransferResource], instance: dg.DagsterInstance) -> None:
    publish(lake, DAY_AGGS, JAN[:3])
    reader = seaweed.credentials("reader")
    read_only = {**lake, "lake_s3": S3TransferResource(
        bucket=lake["lake_s3"].bucket, endpoint_url=seaweed.endpoint_url, region_name=lake["lake_s3"].region_name,
        aws_access_key_id=reader.access_key_id, aws_secret_access_key=reader.secret_access_key,
        addressing_style="path")}
    incident = backfill(read_only, instance)
    assert (incident.runs, len(incident.failed_runs)) == (1, 1)
    assert "1 failed request(s) waiting to retry" in incident.last_tick
    assert backfill(lake, instance).runs == 0  # credentials fixed, but the backoff has not passed
    CLOCK.past_backoff(1)
    healed = backfill(lake, instance)
    assert (healed.runs, healed.failed_runs, curated_days(lake)) == (1, [], 3)
    assert runs_of(instance) == [("1", "FAILURE"), ("2", "SUCCESS")]
    assert backfill(lake, instance).runs == 0  # healed: nothing more to do
    with lake["lake_s3"].open() as store:  # someone deletes the curated partitions: the same request is needed
        store.delete_objects(lake["lake_s3"].bucket, [DAY_AGGS.curated.key(day) for day in JAN[:3]])
    restored = backfill(lake, instance)
    assert (restored.runs, restored.failed_runs, curated_days(lake)) == (1, [], 3)
    assert runs_of(instance) == [("1", "FAILURE"), ("2", "SUCCESS"), ("3", "SUCCESS")]


def test_a_vendor_file_that_never_curates_is_not_retried_until_it_is_corrected(
        lake: dict[str, S3TransferResource], instance: dg.DagsterInstance) -> None:
    publish(lake, DAY_AGGS, [JAN[0]], data=b"not gzip at all")
    attempts = []
    for attempt in range(1, 4):
        attempts.append(backfill(lake, instance).runs)
        CLOCK.past_backoff(attempt)
    assert attempts == [1, 0, 0]  # the run is tagged a permanent failure: retrying cannot help
    assert "1 given up" in backfill(lake, instance).last_tick
    assert lake_status(lake, instance).given_up == [JAN[0].isoformat()]  # `lake status` says so, by the same verdict
    assert lake_status(lake, instance).missing == []
    publish(lake, DAY_AGGS, [JAN[0]])  # the vendor's correction: a new ETag, a new request
    assert lake_status(lake, instance).missing == [JAN[0].isoformat()]  # a new file: not given up
    corrected = backfill(lake, instance)
    assert (corrected.runs, corrected.failed_runs, curated_days(lake)) == (1, [], 1)
    assert lake_status(lake, instance).complete
    assert [status for _, status in runs_of(instance)] == ["FAILURE", "SUCCESS"]


def test_a_day_that_failed_for_good_in_a_range_is_not_requested_again_alone_by_the_sweep(
        lake: dict[str, S3TransferResource], instance: dg.DagsterInstance) -> None:
    """Its neighbours curated, the sweep finds the bad day alone: a new run key, which Dagster would run. The day's
    permanent-failure observation makes it wait for the vendor's next file instead."""
    publish(lake, DAY_AGGS, JAN[:4])
    publish(lake, DAY_AGGS, [JAN[2]], data=b"not gzip at all")
    first = backfill(lake, instance)
    assert (first.runs, len(first.failed_runs), curated_days(lake)) == (1, 1, 3)  # one range: three days curated
    for attempt in range(1, 3):
        CLOCK.past_backoff(attempt)
        assert backfill(lake, instance).runs == 0
    publish(lake, DAY_AGGS, [JAN[2]])
    assert (backfill(lake, instance).runs, curated_days(lake)) == (1, 4)


def test_a_request_whose_s3_calls_always_fail_costs_the_stated_budget_then_is_given_up(
        seaweed: EmbeddedS3, lake: dict[str, S3TransferResource], instance: dg.DagsterInstance,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A vendor object the server can never serve (every GET answered 500): the request is sent the budget's number
    of times, in the budget's number of runs, each after the policy's backoff, then given up. The step's own waits
    are cut (same attempts): the budget's time is its waits, which the clock is moved past."""
    shipped = retries.STEP_RETRIES
    monkeypatch.setattr(retries, "STEP_RETRIES", dg.RetryPolicy(max_retries=shipped.max_retries, delay=0))
    budget = retry_budget(S3TransferConfig().retry_attempts + 1, healing.HEALING, shipped)
    assert budget.describe() in (ROOT / "README.md").read_text()  # the README states what is measured here
    publish(lake, DAY_AGGS, [JAN[0]])
    with FaultProxy(seaweed.ports.s3, rate=0.0) as proxy:
        proxy.break_gets(DAY_AGGS.source.key(JAN[0]))
        keys = seaweed.credentials()
        broken = {**lake, "vendor_s3": S3TransferResource(
            bucket=lake["vendor_s3"].bucket, endpoint_url=proxy.endpoint_url, region_name=LOCAL_REGION,
            aws_access_key_id=keys.access_key_id, aws_secret_access_key=keys.secret_access_key,
            addressing_style="path")}
        runs = []
        for attempt in range(1, budget.runs + 2):
            runs.append(backfill(broken, instance).runs)
            CLOCK.past_backoff(attempt)
        assert runs == [1] * budget.runs + [0]  # one run a backoff, then no more
        assert proxy.counts["broken"] == budget.attempts
        assert "1 given up" in backfill(broken, instance).last_tick
    assert CLOCK.waited >= budget.healing_waits


def test_a_request_older_than_the_look_back_is_still_known_so_its_partitions_come_back(
        lake: dict[str, S3TransferResource], instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(lake, DAY_AGGS, JAN[:2])
    assert backfill(lake, instance).runs == 1
    monkeypatch.setattr(healing, "HISTORY_SECONDS", 0.0)  # the first run is now outside the tick's look-back
    with lake["lake_s3"].open() as store:
        store.delete_objects(lake["lake_s3"].bucket, [DAY_AGGS.curated.key(day) for day in JAN[:2]])
    restored = backfill(lake, instance)
    # as attempt 2 (run key "<request>#2"), which the daemon would not drop as a repeated run key
    assert (restored.runs, curated_days(lake), runs_of(instance)) == (1, 2, [("1", "SUCCESS"), ("2", "SUCCESS")])


def test_a_day_a_failed_manual_run_left_red_is_recorded_again_from_the_lake_with_its_checks(
        seaweed: EmbeddedS3, lake: dict[str, S3TransferResource], instance: dg.DagsterInstance) -> None:
    """A `dagster asset materialize` on a wrong bucket fails the day, which S3 still holds curated from the
    vendor's current file: the next tick records it again (raw and curated), its checks current again, and
    requests nothing."""
    publish(lake, DAY_AGGS, JAN[:3])
    assert backfill(lake, instance).runs == 1
    keys = seaweed.credentials()
    wrong = {**lake, "lake_s3": S3TransferResource(
        bucket="no-such-bucket", endpoint_url=seaweed.endpoint_url, region_name=lake["lake_s3"].region_name,
        aws_access_key_id=keys.access_key_id, aws_secret_access_key=keys.secret_access_key, addressing_style="path")}
    day = JAN[1].isoformat()
    partitions = daily_partitions(DAY_AGGS)
    assets = [dg.AssetKey(["day_aggs", "raw"]), dg.AssetKey(["day_aggs", "curated"])]
    assert not dg.materialize(raw_and_curated(DAY_AGGS), partition_key=day, resources=wrong, instance=instance,
                              selection=assets, raise_on_error=False).success  # as `dagster asset materialize`
    assert {instance.get_status_by_partition(asset, [day], partitions)[day] for asset in assets} == {
        dg.AssetPartitionStatus.FAILED}

    reconciled = backfill(lake, instance)
    assert (reconciled.runs, curated_days(lake)) == (0, 3)  # nothing curated again: Dagster is told what S3 holds
    assert {instance.get_status_by_partition(asset, [day], partitions)[day] for asset in assets} == {
        dg.AssetPartitionStatus.MATERIALIZED}
    latest = instance.fetch_materializations(dg.AssetRecordsFilter(assets[1], asset_partitions=[day]), limit=1)
    assert latest.records[0].asset_materialization.metadata["action"].value.startswith("recorded again: ")
    for concern in ("structure", "values", "drift"):  # each check's Partitions view counts the day as Passed again
        info = instance.event_log_storage.get_asset_check_partition_info(
            [dg.AssetCheckKey(assets[1], concern)], partition_keys=[day])
        assert [(i.is_current, i.latest_execution_status.value) for i in info] == [(True, "SUCCEEDED")], concern
    assert backfill(lake, instance).runs == 0  # and it stays so


def test_a_curated_object_altered_outside_the_lake_is_made_again_by_the_next_full_pass(
        lake: dict[str, S3TransferResource], instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone overwrites a curated day: the object is newer than Dagster's record of it, so the next full pass
    requests the day and the run writes it again from the vendor's file; the lake's own writes never count."""
    monkeypatch.setattr(planning, "ALTERED_SLACK_SECONDS", 0.0)  # S3 times are whole seconds: the test waits 2 s
    publish(lake, DAY_AGGS, JAN[:3])
    assert backfill(lake, instance).runs == 1
    assert backfill(lake, instance).runs == 0  # a full pass: its own writes are not alterations
    bucket, key = lake["lake_s3"].bucket, DAY_AGGS.curated.key(JAN[1])
    with lake["lake_s3"].open() as store:
        good = store.get_bytes(bucket, key)
        time.sleep(2)
        store.put_bytes(bucket, key, store.get_bytes(bucket, DAY_AGGS.curated.key(JAN[0])), overwrite=True)
    remade = backfill(lake, instance)
    assert (remade.runs, remade.failed_runs) == (1, [])
    with lake["lake_s3"].open() as store:
        assert store.get_bytes(bucket, key) == good and store.info(bucket, key).metadata.get("source-etag")
    assert backfill(lake, instance).runs == 0  # made again and recorded: nothing more to do


def test_a_failed_rollup_is_retried_after_its_backoff_on_a_tick_that_lists_nothing(
        seaweed: EmbeddedS3, lake: dict[str, S3TransferResource], instance: dg.DagsterInstance) -> None:
    """The rollup sensor's quiet ticks (no curated day recorded since its cursor) list nothing, but still retry a
    month whose run failed once its backoff has passed, as the daemon ticks it; a request whose earlier attempt
    succeeded and whose newest one failed counts as failed."""
    publish(lake, DAY_AGGS, JAN[:3])
    assert backfill(lake, instance).months == ["2024-01-01"]
    with lake["lake_s3"].open() as store:
        store.delete_objects(lake["lake_s3"].bucket, [DAY_AGGS.rollup_key(2024, 1)])
    reader = seaweed.credentials("reader")
    read_only = {**lake, "lake_s3": S3TransferResource(
        bucket=lake["lake_s3"].bucket, endpoint_url=seaweed.endpoint_url, region_name=lake["lake_s3"].region_name,
        aws_access_key_id=reader.access_key_id, aws_secret_access_key=reader.secret_access_key,
        addressing_style="path")}
    first = rollup_tick(lake, instance, None)  # a fresh cursor: the whole lake, where January has no summary
    # the backfill's request again (same days, same ETags), as its next attempt: it succeeded, then the lake lost it
    assert [(request.partition_key, request.tags[tags.ATTEMPT_TAG]) for request in first.run_requests or []] == [
        ("2024-01-01", "2")]
    assert not run_rollup(read_only, instance, first.run_requests[0]).success  # the lake cannot be written
    quiet = rollup_tick(lake, instance, first.cursor)
    assert not quiet.run_requests and "1 failed request(s) waiting" in (quiet.skip_reason.skip_message or "")
    CLOCK.past_backoff(2)
    retry = rollup_tick(lake, instance, quiet.cursor)
    assert [(request.partition_key, request.tags[tags.ATTEMPT_TAG]) for request in retry.run_requests or []] == [
        ("2024-01-01", "3")]  # its newest attempt failed: retried after the backoff, not taken for a success
    assert run_rollup(lake, instance, retry.run_requests[0]).success


def rollup_tick(resources: dict[str, S3TransferResource], instance: dg.DagsterInstance,
                cursor: str | None) -> dg.SensorResult:
    defs = dg.Definitions.merge(build_dataset_defs(DAY_AGGS, CLOCK), dg.Definitions(resources=resources))
    sensor = defs.resolve_sensor_def("day_aggs_rollups")
    with dg.build_sensor_context(cursor=cursor, resources=resources, sensor_name=sensor.name,
                                 instance=instance) as context:
        return sensor(context)


def run_rollup(resources: dict[str, S3TransferResource], instance: dg.DagsterInstance,
               request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """Run a rollup request as the daemon would: its tags and the sensor's name on the run."""
    defs = dg.Definitions.merge(build_dataset_defs(DAY_AGGS), dg.Definitions(resources=resources))
    return defs.resolve_job_def("day_aggs_monthly").execute_in_process(
        instance=instance, partition_key=request.partition_key, raise_on_error=False,
        tags={**request.tags, tags.SENSOR_TAG: "day_aggs_rollups"})
