"""The curated asset's Dagster checks, one per entry of the lake's check registry (:mod:`lake_assets.lake.checks`)."""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from lake_assets.lake.checks import CheckOutcome, checks_for
from lake_assets.lake.datasets import DatasetSpec

#: Longest check detail kept in a check result's metadata.
MAX_DETAIL = 500


def check_specs(spec: DatasetSpec, asset: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """Blocking check specs for every check that applies to ``spec``: a failure stops downstream assets."""
    return [dg.AssetCheckSpec(check.name, asset=asset, blocking=True, description=check.description)
            for check in checks_for(spec)]


def passed_check_results(spec: DatasetSpec, outcomes: Iterable[CheckOutcome]) -> list[dg.AssetCheckResult]:
    """One passed result per check of ``spec``, its metadata the distinct details the partitions reported."""
    details: dict[str, set[str]] = {check.name: set() for check in checks_for(spec)}
    for outcome in outcomes:
        details[outcome.name].add(outcome.detail)
    return [dg.AssetCheckResult(check_name=name, passed=True,
                                metadata={"detail": "; ".join(sorted(found))[:MAX_DETAIL]})
            for name, found in details.items()]
