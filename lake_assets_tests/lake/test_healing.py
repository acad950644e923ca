"""The healing policy as a pure function: when a failed request is made again, how often, and when never."""

from __future__ import annotations

import pytest

from lake_assets.lake.healing import HealingPolicy, RequestHistory, Retry, plan_retries

POLICY = HealingPolicy(max_attempts=4, first_delay=60, longest_delay=150)
KEYS = ("2024-01-02", "2024-01-03")


def failed(attempts: int, last_end: float = 1000.0, **changes: object) -> RequestHistory:
    values: dict[str, object] = {"request": "day_aggs:r", "keys": KEYS, "attempts": attempts, "active": False,
                                 "succeeded": False, "last_end": last_end, **changes}
    return RequestHistory(**values)  # type: ignore[arg-type]


def test_the_delay_doubles_up_to_its_longest() -> None:
    assert [POLICY.delay_after(n) for n in (1, 2, 3, 4)] == [60, 120, 150, 150]


@pytest.mark.parametrize(("attempts", "now", "retried"), [(1, 1059, False), (1, 1060, True), (2, 1119, False),
                                                           (2, 1120, True), (3, 1150, True)])
def test_a_failed_request_waits_out_its_backoff_then_is_retried_as_the_next_attempt(
        attempts: int, now: float, retried: bool) -> None:
    plan = plan_retries([failed(attempts)], set(KEYS), now, POLICY)
    assert plan.retries == ([Retry("day_aggs:r", KEYS, attempts + 1)] if retried else [])
    assert len(plan.waiting) == (0 if retried else 1)


def test_after_its_last_attempt_a_request_is_given_up() -> None:
    plan = plan_retries([failed(4, last_end=0.0)], set(KEYS), 10**9, POLICY)
    assert (plan.retries, plan.waiting, [h.attempts for h in plan.given_up]) == ([], [], [4])


@pytest.mark.parametrize("history", [failed(1, active=True), failed(1, succeeded=True)], ids=["running", "succeeded"])
def test_a_request_running_or_done_is_left_alone(history: RequestHistory) -> None:
    assert plan_retries([history], set(KEYS), 10**9, POLICY) == plan_retries([], set(), 0, POLICY)


def test_a_request_whose_partitions_were_curated_since_needs_nothing() -> None:
    assert not plan_retries([failed(1)], {"2024-01-04"}, 10**9, POLICY).retries


def test_a_request_that_succeeded_but_whose_partitions_the_lake_lost_is_made_again_at_once() -> None:
    done = failed(2, succeeded=True)
    assert plan_retries([done], set(), 1000.0, POLICY, lost={"day_aggs:r"}).retries == [
        Retry("day_aggs:r", KEYS, 3, lost=True)]  # the tick's log says it succeeded, not that it failed
    assert plan_retries([done], set(KEYS), 1000.0, POLICY).retries == []
