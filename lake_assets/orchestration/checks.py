"""The curated asset's Dagster checks: one per concern of the lake's check registry (:mod:`lake_assets.lake.checks`).

A concern's result lists every check of it that ran on the day (its outcome and what it found), so the
UI still says which check failed on which day, at a few check results a day instead of one per check
(each result is an unbatchable event, stored twice). The checks are partitioned like the asset and every
day a run checks gets its own result per concern. In a one-day run that is an ``AssetCheckResult``, which
Dagster records against the day's materialization. A range run has no partition key, and Dagster 1.13
records its ``AssetCheckResult`` once, without a partition; so a range run yields one
:class:`dagster.AssetCheckEvaluation` per day and concern, naming the day and the materialization it judged
(:func:`target_of`), which is what makes the day's result count in the check's Partitions view, and one
summary result per concern (Dagster requires a result per check spec of the step), which names the days
that failed and counts in no day's status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg

# Dagster 1.13 exports AssetCheckEvaluation, but not the type of its documented target_materialization_data
# parameter; without a target a day's result never counts as current (asset_check_state.py, is_current).
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from lake_assets.lake.checks import CheckOutcome, Concern, checks_for, concerns_for
from lake_assets.lake.datasets import DatasetSpec

#: Longest check detail kept in a check result's metadata.
MAX_DETAIL = 500
#: Failing days whose details a range run's summary quotes.
MAX_EXAMPLES = 3
SEVERITY = {"error": dg.AssetCheckSeverity.ERROR, "warn": dg.AssetCheckSeverity.WARN}
SEVERITY_WORDS = {"error": "error: the partition is not written", "warn": "warning: reported, the partition written"}


def check_specs(spec: DatasetSpec, asset: dg.AssetKey,
                partitions: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    """A check spec per concern that applies to ``spec``, partitioned as the asset: error concerns block (a
    failure stops downstream assets; curation did not write the partition), warning concerns do not.

    Partitioned check specs are a preview in Dagster 1.13 (it warns of that); the pin to 1.13.27 keeps
    them as tested.
    """
    checks = checks_for(spec)
    return [dg.AssetCheckSpec(concern.name, asset=asset, blocking=concern.severity == "error",
                              partitions_def=partitions,
                              description=f"{concern.description} Checks: "
                                          f"{', '.join(c.name for c in checks if c.concern == concern.name)} "
                                          f"({SEVERITY_WORDS[concern.severity]}).")
            for concern in concerns_for(spec)]


def verdicts(spec: DatasetSpec, key: str,
             outcomes: Sequence[CheckOutcome]) -> list[tuple[Concern, bool, dict[str, object]]]:
    """Each concern's verdict on one partition: passed when every check of it passed, and the metadata a user
    reads in the UI: ``detail`` (the failed checks' findings, prefixed with the dataset and partition so that it
    still says where when read out of context), ``checks`` (every check's outcome and finding) and, when one
    failed, ``failed_checks``. A passing day's result says no more than that (each result is stored twice,
    for every day of the history)."""
    found = []
    for concern in concerns_for(spec):
        mine = [outcome for outcome in outcomes if outcome.concern == concern.name]
        failed = [outcome for outcome in mine if not outcome.passed]
        detail = ("; ".join(f"{o.name}: {o.detail}" for o in failed) if failed
                  else f"{len(mine)} checks passed" if mine else "a closed day: no file, nothing to check")
        metadata: dict[str, object] = {
            "detail": f"{spec.name}: {key}: {detail}"[:MAX_DETAIL],
            "checks": dg.MetadataValue.json({o.name: {"passed": o.passed, "detail": o.detail[:MAX_DETAIL]}
                                             for o in mine})}
        if failed:
            metadata["failed_checks"] = dg.MetadataValue.json([outcome.name for outcome in failed])
        found.append((concern, not failed, metadata))
    return found


def verdict_metadata(spec: DatasetSpec, outcomes: Sequence[CheckOutcome]) -> dict[str, dg.MetadataValue]:
    """What a curated partition's materialization records of its checks: each concern's verdict, so that the day
    can be recorded again later (:func:`recorded_again`) without curating it again."""
    return {"check_verdicts": dg.MetadataValue.json({concern.name: passed
                                                     for concern, passed, _ in verdicts(spec, "", outcomes)})}


def recorded_again(spec: DatasetSpec, asset: dg.AssetKey, key: str, before: dg.EventLogRecord,
                   again: dg.EventLogRecord) -> list[dg.AssetCheckEvaluation]:
    """Each concern's verdict on a partition recorded again (``again``), as the materialization ``before`` it
    recorded it: the same object is in the lake, so the same verdict holds, now naming the new record."""
    materialization = before.asset_materialization
    found = materialization.metadata.get("check_verdicts") if materialization else None
    verdict = found.value if found is not None else {}
    return [dg.AssetCheckEvaluation(
        asset_key=asset, check_name=concern.name, passed=bool(verdict[concern.name]), partition=key,
        severity=SEVERITY[concern.severity], blocking=concern.severity == "error",
        target_materialization_data=target_of(again),
        metadata={"detail": f"{spec.name}: {key}: the verdict of run {before.run_id[:8]}, which curated the object "
                            f"the lake holds; recorded again after a later run failed"})
        for concern in concerns_for(spec) if isinstance(verdict, dict) and concern.name in verdict]


def check_results(spec: DatasetSpec, key: str, outcomes: Sequence[CheckOutcome]) -> list[dg.AssetCheckResult]:
    """A one-partition run's result per concern; Dagster records each against the partition's materialization."""
    return [dg.AssetCheckResult(check_name=concern.name, passed=passed, severity=SEVERITY[concern.severity],
                                metadata=metadata)
            for concern, passed, metadata in verdicts(spec, key, outcomes)]


def range_summaries(spec: DatasetSpec, outcomes: Mapping[str, Sequence[CheckOutcome]]) -> list[dg.AssetCheckResult]:
    """A range run's summary per concern over its days (``outcomes`` by partition key): failed when the concern
    failed on a day, naming those days and the first few findings."""
    by_concern: dict[str, dict[str, str]] = {concern.name: {} for concern in concerns_for(spec)}
    for key, partition_outcomes in sorted(outcomes.items()):
        for concern, passed, metadata in verdicts(spec, key, partition_outcomes):
            if not passed:
                by_concern[concern.name][key] = str(metadata["detail"])
    return [dg.AssetCheckResult(check_name=concern.name, passed=not failed, severity=SEVERITY[concern.severity],
                                metadata={"partitions_checked": len(outcomes),
                                          "failed_partitions": dg.MetadataValue.json(sorted(failed)),
                                          "detail": "; ".join(list(failed.values())[:MAX_EXAMPLES])[:MAX_DETAIL]
                                          or f"{spec.name}: passed on every day checked"})
            for concern in concerns_for(spec) for failed in [by_concern[concern.name]]]


def check_evaluations(spec: DatasetSpec, asset: dg.AssetKey, outcomes: Mapping[str, Sequence[CheckOutcome]],
                      targets: Mapping[str, dg.EventLogRecord]) -> list[dg.AssetCheckEvaluation]:
    """A range run's result per day (``outcomes`` by partition key) and concern, in partition order, each naming
    the day's latest materialization in ``targets`` as what it judged (none when the day has never been
    materialized)."""
    return [dg.AssetCheckEvaluation(asset_key=asset, check_name=concern.name, passed=passed, partition=key,
                                    severity=SEVERITY[concern.severity], blocking=concern.severity == "error",
                                    metadata=metadata, target_materialization_data=target_of(targets.get(key)))
            for key, partition_outcomes in sorted(outcomes.items())
            for concern, passed, metadata in verdicts(spec, key, partition_outcomes)]


def target_of(record: dg.EventLogRecord | None) -> AssetCheckEvaluationTargetMaterializationData | None:
    """The materialization a check result judged, as Dagster records it for a one-partition run's result."""
    if record is None:
        return None
    return AssetCheckEvaluationTargetMaterializationData(storage_id=record.storage_id, run_id=record.run_id,
                                                         timestamp=record.timestamp)
