"""Every retry layer a failing request goes through, and their product: one budget, stated and tested.

A request whose S3 calls keep failing (a server fault that does not pass) is tried:

1. by the transfer layer: each S3 request ``max_attempts`` times (``<prefix>_MAX_ATTEMPTS``);
2. by the step: :data:`STEP_RETRIES`, ``max_retries + 1`` attempts a run, waiting ``delay``, then three times it
   (Dagster's exponential backoff, give or take ``delay`` of jitter);
3. by the sensors' healing: ``max_attempts`` runs of the request, waiting
   :meth:`~lake_assets.lake.healing.HealingPolicy.delay_after` after each failed one, then given up until a vendor
   file changes.

Dagster's run retries (``run_retries`` in ``dagster.yaml``, ``retry_on_asset_or_op_failure: false``) run again only
a run whose worker died, so they do not multiply a failing step. A vendor file that can never be curated, a missing
bucket or refused keys fail the step for good (``allow_retries=False``), and the vendor file is given up at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from lake_assets.lake.healing import HealingPolicy

#: Step retries for what the transfer handler's own retries could not absorb (an S3 outage of a minute); vendor,
#: bucket and identity errors fail the step with ``allow_retries=False`` instead.
STEP_RETRIES = dg.RetryPolicy(max_retries=2, delay=20, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


@dataclass(frozen=True)
class RetryBudget:
    """What one request whose S3 calls always fail costs before it is given up."""

    request_attempts: int  # per S3 request, by the transfer layer
    step_attempts: int  # per run, by the step retry policy
    runs: int  # per request, by healing
    step_waits: float  # seconds a run waits between its step attempts (jitter aside)
    healing_waits: float  # seconds between the request's runs

    @property
    def attempts(self) -> int:
        """How many times the failing S3 request is sent."""
        return self.request_attempts * self.step_attempts * self.runs

    @property
    def seconds(self) -> float:
        """The least time from the first attempt to giving up: every wait, none of the runs' own time."""
        return self.runs * self.step_waits + self.healing_waits

    def describe(self) -> str:
        """The budget as the README states it."""
        hours, minutes = divmod(round(self.seconds / 60), 60)
        return (f"{self.attempts} attempts of the failing S3 request ({self.request_attempts} per request x "
                f"{self.step_attempts} step attempts x {self.runs} runs), over at least {hours} h {minutes:02d} min")


def retry_budget(request_attempts: int, healing: HealingPolicy,
                 step: dg.RetryPolicy = STEP_RETRIES) -> RetryBudget:
    """The budget of the layers above, for S3 requests tried ``request_attempts`` times each."""
    retries = step.max_retries or 0
    delay = float(step.delay or 0)
    step_waits = sum(((2 ** attempt) - 1) * delay for attempt in range(1, retries + 1))  # Dagster's exponential
    return RetryBudget(request_attempts=request_attempts, step_attempts=retries + 1, runs=healing.max_attempts,
                       step_waits=step_waits,
                       healing_waits=sum(healing.delay_after(attempt) for attempt in range(1, healing.max_attempts)))
