"""keep_current(), the automation condition of assets built on the lake, evaluated as the daemon's automation
sensor evaluates it (under `lake run` too, which runs the daemon)."""

import dagster as dg

from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.orchestration.automation import keep_current
from lake_assets.orchestration.partitions import daily_partitions

DAYS = daily_partitions(DAY_AGGS)
KEYS = DAYS.get_partition_keys()[:30]  # 2024-01-02 .. 2024-02-13
UPSTREAM = dg.AssetKey(["day_aggs", "curated"])
FAILING: set[str] = set()


@dg.asset(key=UPSTREAM, partitions_def=DAYS)
def upstream() -> int:
    return 1


@dg.asset(partitions_def=DAYS, automation_condition=keep_current(), backfill_policy=dg.BackfillPolicy.single_run(),
          ins={"bars": dg.AssetIn(UPSTREAM, partition_mapping=dg.TimeWindowPartitionMapping(
              start_offset=-1, allow_nonexistent_upstream_partitions=True))})
def returns(context: dg.AssetExecutionContext, bars: object) -> int:
    if context.partition_key in FAILING:
        raise RuntimeError("a bug in the user's asset")
    return 1


@dg.asset(partitions_def=DAYS, automation_condition=keep_current(), deps=[returns])
def window() -> int:
    return 1


DEFS = dg.Definitions(assets=[upstream, returns, window], resources={"io_manager": dg.mem_io_manager})


class Ticks:
    """Successive evaluations against one instance, carrying the cursor as the sensor does."""

    def __init__(self) -> None:
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor = None

    def tick(self) -> dict[str, list[str]]:
        result = dg.evaluate_automation_conditions(DEFS, self.instance, cursor=self.cursor)
        self.cursor = result.cursor
        return {key.to_user_string(): sorted(k for k in result.get_requested_partitions(key) if k)
                for key in (returns.key, window.key) if result.get_requested_partitions(key)}

    def curate(self, *keys: str) -> None:
        for key in keys:
            self.instance.report_runless_asset_event(dg.AssetMaterialization(UPSTREAM, partition=key))

    def materialise(self, *keys: str) -> None:
        for key in keys:
            self.instance.report_runless_asset_event(dg.AssetMaterialization(returns.key, partition=key))
            self.instance.report_runless_asset_event(dg.AssetMaterialization(window.key, partition=key))


def test_a_new_asset_catches_up_on_the_history_whose_upstream_is_in_the_lake() -> None:
    ticks = Ticks()
    ticks.curate(*KEYS[:10])
    assert ticks.tick() == {"returns": KEYS[:10], "window": KEYS[:10]}  # not only the latest window, as eager()
    ticks.materialise(*KEYS[:10])
    assert ticks.tick() == {}


def test_a_new_day_and_a_corrected_day_request_exactly_their_dependents() -> None:
    ticks = Ticks()
    ticks.curate(*KEYS[:10])
    ticks.tick()
    ticks.materialise(*KEYS[:10])
    assert ticks.tick() == {}
    ticks.curate(KEYS[10])  # a new day: its own partition
    assert ticks.tick() == {"returns": [KEYS[10]], "window": [KEYS[10]]}
    ticks.materialise(KEYS[10])
    ticks.curate(KEYS[4])  # a corrected day: every partition whose look-back reads it
    assert ticks.tick() == {"returns": KEYS[4:6], "window": KEYS[4:6]}


def test_nothing_is_requested_while_an_upstream_day_it_reads_is_missing() -> None:
    ticks = Ticks()
    ticks.curate(*KEYS[:3], *KEYS[4:6])  # KEYS[3] failed upstream: it and the day that looks back on it wait
    requested = [*KEYS[:3], KEYS[5]]
    assert ticks.tick() == {"returns": requested, "window": requested}
    ticks.curate(KEYS[3])
    assert ticks.tick() == {"returns": KEYS[3:5], "window": KEYS[3:5]}


def test_a_failed_run_is_not_requested_again_until_its_upstream_changes() -> None:
    ticks = Ticks()
    ticks.curate(KEYS[0])
    assert ticks.tick() == {"returns": [KEYS[0]], "window": [KEYS[0]]}
    FAILING.add(KEYS[0])
    try:
        failed = dg.materialize([upstream, returns], selection=[returns], partition_key=KEYS[0],
                                instance=ticks.instance, raise_on_error=False,
                                resources={"io_manager": dg.mem_io_manager})
    finally:
        FAILING.clear()
    assert not failed.success
    assert ticks.tick() == {}  # no storm: still missing, but handled
    ticks.curate(KEYS[0])
    assert ticks.tick() == {"returns": [KEYS[0]], "window": [KEYS[0]]}

