"""Declarative automation for assets built on the lake: the condition they declare, and the sensor that runs it.

The lake's own assets are driven by sensors that read S3 (:mod:`lake_assets.orchestration.sensors`); assets
derived from them only need Dagster's view of their upstream partitions, which is what an
``AutomationCondition`` evaluates. One sensor, on by default, evaluates every asset of the code
location that declares a condition, a user's new module included.
"""

from __future__ import annotations

import dagster as dg

#: The automation sensor's name (``lake run`` runs it too: it runs the daemon).
AUTOMATION_SENSOR = "lake_automation"
#: Seconds between evaluations of the automation conditions, as the lake's own sensors.
AUTOMATION_SECONDS = 30


def keep_current() -> dg.AutomationCondition:
    """Materialise every partition whose upstream partitions are all in the lake, and keep it current.

    A partition is requested when it is missing at the condition's first evaluation (so a new asset
    catches up on the lake's history, not only on its latest day), when it comes into existence, and
    again when an upstream partition it reads is materialised anew (a vendor's correction reaches a
    look-back's every dependent); never while an upstream partition is missing or in progress, or while
    it runs. A failed run is not re-requested until an upstream partition changes: no retry storm.
    Unlike ``AutomationCondition.eager()``, it is not limited to the latest time window, and a trigger is
    cleared by a request only, not by the partition's own update: when an upstream partition is updated
    by another run while this one's run is under way (it read the old one), both updates land between
    the same two ticks, and ``since_last_handled()`` would let the older run's update clear the newer
    trigger, leaving the partition stale (found by the soak test). An upstream update made by the run
    that also makes this partition does not trigger (``any_deps_updated``).
    """
    requested = (dg.AutomationCondition.newly_requested() | dg.AutomationCondition.initial_evaluation()).with_label(
        "requested")
    trigger = (
        (dg.AutomationCondition.missing() & dg.AutomationCondition.initial_evaluation())
        | (dg.AutomationCondition.newly_missing() | dg.AutomationCondition.any_deps_updated()).since(requested)
    )
    return (trigger & ~dg.AutomationCondition.any_deps_missing() & ~dg.AutomationCondition.any_deps_in_progress()
            & ~dg.AutomationCondition.in_progress()).with_label("keep_current")


def build_automation_sensor() -> dg.AutomationConditionSensorDefinition:
    """The sensor that evaluates the code location's automation conditions, running by default.

    A tick that requests more than one partition of an asset emits a backfill, which runs the
    partitions as the asset's ``BackfillPolicy`` says (one run for a range with ``single_run()``).
    """
    return dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR, target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=AUTOMATION_SECONDS,
        description="Evaluates the automation conditions of assets built on the lake (keep_current).")
