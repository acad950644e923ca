"""When a request for partitions that failed is made again: a bounded number of attempts, backing off. Pure.

A sensor names each request by its partitions and their source ETags (its run key). When every run of
a request has failed and its partitions are still not curated, the request is made again once the
backoff after its last failure has passed: ``first_delay``, doubling, at most ``longest_delay`` (a run whose
process died is Dagster's to run again: its run retries).
After ``max_attempts`` runs, or at once when its last run found a vendor file that can never be curated
(``permanent``), it is given up until a source file changes, which makes it a new request.
So an incident (an S3 outage, credentials that could not write) heals within minutes of its end, and a
vendor file that can never be curated costs ``max_attempts`` runs over hours, not a run a tick.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HealingPolicy:
    """How often, and how soon, a failed request is made again."""

    max_attempts: int = 8
    first_delay: float = 60.0
    longest_delay: float = 1800.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.first_delay < 0 or self.longest_delay < self.first_delay:
            raise ValueError(f"invalid healing policy {self}")

    def delay_after(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed run before the next one."""
        return min(self.first_delay * 2 ** (attempts - 1), self.longest_delay)


@dataclass(frozen=True)
class RequestHistory:
    """The runs one request has had so far, as the Dagster instance records them (``last_start``: when its
    newest run began, the moment after which a materialization of its partitions counts as their repair;
    ``succeeded``: its newest run succeeded, so a request made again after the lake lost its partitions, whose
    run then failed, backs off like any failed one)."""

    request: str
    keys: tuple[str, ...]
    attempts: int
    active: bool
    succeeded: bool
    last_end: float | None
    permanent: bool = False
    last_start: float = 0.0

    @property
    def span(self) -> str:
        """The request's partitions, for a person: ``first..last``."""
        return f"{self.keys[0]}..{self.keys[-1]}"


@dataclass(frozen=True)
class Retry:
    """A request to make again, as its ``attempt``-th run."""

    request: str
    keys: tuple[str, ...]
    attempt: int
    lost: bool = False  # its last run succeeded, but the lake needs its partitions again (deleted since)

    @property
    def run_key(self) -> str:
        """The base run key and the attempt, so Dagster does not drop the retry as a duplicate."""
        return f"{self.request}#{self.attempt}"


@dataclass(frozen=True)
class HealPlan:
    """What one tick does about failed requests."""

    retries: list[Retry] = field(default_factory=list)
    waiting: list[tuple[RequestHistory, float]] = field(default_factory=list)
    given_up: list[RequestHistory] = field(default_factory=list)


def plan_retries(histories: Iterable[RequestHistory], not_curated: Collection[str], now: float,
                 policy: HealingPolicy, lost: Collection[str] = ()) -> HealPlan:
    """Decide which requests to make again now, which wait, and which are given up.

    ``not_curated`` holds the partition keys that are neither curated nor being curated, by the
    instance's records; a failed request whose partitions have all been curated since (by another run)
    needs nothing. ``lost`` names requests that succeeded but whose partitions the lake's listing
    needs again (an object deleted since): they are made again at once, whatever their attempts.
    """
    plan = HealPlan()
    for history in histories:
        if history.active:
            continue
        if history.succeeded:
            if history.request in lost:
                plan.retries.append(Retry(history.request, history.keys, history.attempts + 1, lost=True))
            continue
        if not any(key in not_curated for key in history.keys):
            continue
        if history.permanent or history.attempts >= policy.max_attempts:
            plan.given_up.append(history)
            continue
        due = (history.last_end or now) + policy.delay_after(history.attempts)
        if now >= due:
            plan.retries.append(Retry(history.request, history.keys, history.attempts + 1))
        else:
            plan.waiting.append((history, due))
    return plan
