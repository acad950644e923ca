"""The curated asset's Dagster checks, one per entry of the lake's check registry (:mod:`lake_assets.lake.checks`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg

from lake_assets.lake.checks import CheckOutcome, checks_for
from lake_assets.lake.datasets import DatasetSpec

#: Longest check detail kept in a check result's metadata.
MAX_DETAIL = 500
#: Failing partitions whose details a failed check result quotes.
MAX_EXAMPLES = 3
SEVERITY = {"error": dg.AssetCheckSeverity.ERROR, "warn": dg.AssetCheckSeverity.WARN}
SEVERITY_WORDS = {"error": "error: the partition is not written", "warn": "warning: reported, the partition written"}


def check_specs(spec: DatasetSpec, asset: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """A check spec for every check that applies to ``spec``: error checks block (a failure stops downstream
    assets; curation did not write the partition), warning checks do not."""
    return [dg.AssetCheckSpec(check.name, asset=asset, blocking=check.severity == "error",
                              description=f"{check.description} ({SEVERITY_WORDS[check.severity]})")
            for check in checks_for(spec)]


def check_results(spec: DatasetSpec, outcomes: Mapping[str, Sequence[CheckOutcome]]) -> list[dg.AssetCheckResult]:
    """One result per check of ``spec`` over a run's partitions (``outcomes`` by partition key).

    A check fails when it failed on any partition; its metadata names those partitions, the first few
    details (the offending values, what was compared) and each failed partition's own, else the distinct
    details the partitions reported. A warning check fails with ``AssetCheckSeverity.WARN``.
    """
    failed: dict[str, dict[str, str]] = {check.name: {} for check in checks_for(spec)}
    passed: dict[str, set[str]] = {check.name: set() for check in checks_for(spec)}
    for key, partition_outcomes in sorted(outcomes.items()):
        for outcome in partition_outcomes:
            if outcome.passed:
                passed[outcome.name].add(outcome.detail)
            else:
                failed[outcome.name][key] = outcome.detail
    severity = {check.name: SEVERITY[check.severity] for check in checks_for(spec)}
    results = []
    for name in failed:
        if failed[name]:
            detail = "; ".join(f"{key}: {text}" for key, text in list(failed[name].items())[:MAX_EXAMPLES])
            metadata = {"failed_partitions": dg.MetadataValue.json(sorted(failed[name])),
                        "detail": f"{spec.name}: {detail}"[:MAX_DETAIL],
                        "detail_by_partition": dg.MetadataValue.json(
                            {key: text[:MAX_DETAIL] for key, text in failed[name].items()})}
        else:
            metadata = {"detail": "; ".join(sorted(passed[name]))[:MAX_DETAIL]}
        results.append(dg.AssetCheckResult(check_name=name, passed=not failed[name], severity=severity[name],
                                           metadata={"partitions_checked": len(outcomes), **metadata}))
    return results
