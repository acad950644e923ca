"""The curated asset's Dagster checks, one per entry of the lake's check registry (:mod:`lake_assets.lake.checks`).

The checks are partitioned like the asset, and every day a run checks gets its own result per check,
also inside a range run. Dagster records a range run's ``AssetCheckResult`` once, without a partition,
and would leave each day's planned execution PLANNED (each such row holding the run's partitions
subset, with the partitions definition); so a range run also yields one
:class:`dagster.AssetCheckEvaluation` per day and check, the public way to name a result's partition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg

from lake_assets.lake.checks import CheckOutcome, checks_for
from lake_assets.lake.datasets import DatasetSpec

#: Longest check detail kept in a check result's metadata.
MAX_DETAIL = 500
#: Failing partitions whose details a range run's summary result quotes.
MAX_EXAMPLES = 3
SEVERITY = {"error": dg.AssetCheckSeverity.ERROR, "warn": dg.AssetCheckSeverity.WARN}
SEVERITY_WORDS = {"error": "error: the partition is not written", "warn": "warning: reported, the partition written"}


def check_specs(spec: DatasetSpec, asset: dg.AssetKey,
                partitions: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    """A check spec per check that applies to ``spec``, partitioned as the asset: error checks block (a
    failure stops downstream assets; curation did not write the partition), warning checks do not.

    Partitioned check specs are a preview in Dagster 1.13 (it warns of that); the pin to 1.13.27 keeps
    them as tested.
    """
    return [dg.AssetCheckSpec(check.name, asset=asset, blocking=check.severity == "error", partitions_def=partitions,
                              description=f"{check.description} ({SEVERITY_WORDS[check.severity]})")
            for check in checks_for(spec)]


def check_evaluations(spec: DatasetSpec, asset: dg.AssetKey,
                      outcomes: Mapping[str, Sequence[CheckOutcome]]) -> list[dg.AssetCheckEvaluation]:
    """One result per check and partition (``outcomes`` by partition key), in partition order.

    A result's ``detail`` says what was found (the offending values, what was compared), prefixed
    with the dataset and the partition so that a detail read out of context still says where; a
    warning check fails with ``AssetCheckSeverity.WARN``.
    """
    checks = {check.name: check for check in checks_for(spec)}
    return [dg.AssetCheckEvaluation(asset_key=asset, check_name=outcome.name, passed=outcome.passed, partition=key,
                                    severity=SEVERITY[checks[outcome.name].severity],
                                    blocking=checks[outcome.name].severity == "error",
                                    metadata={"detail": f"{spec.name}: {key}: {outcome.detail}"[:MAX_DETAIL]})
            for key, partition_outcomes in sorted(outcomes.items()) for outcome in partition_outcomes]


def check_results(spec: DatasetSpec, outcomes: Mapping[str, Sequence[CheckOutcome]]) -> list[dg.AssetCheckResult]:
    """One result per check of ``spec`` over a run's partitions (``outcomes`` by partition key): in a
    one-partition run, that partition's result (Dagster records it against the partition); in a range
    run, the run's summary, recorded without a partition beside :func:`check_evaluations`' own.

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
