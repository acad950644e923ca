"""The code location with each executor Dagster offers, for ``bench/daemon_backfill.py`` (``-a`` picks one), and
the code location with twenty years of ``day_aggs`` (``history``), for its ``--start 2006-01-03``."""

import dataclasses
from datetime import date

import dagster as dg

from lake_assets import definitions
from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.orchestration.factory import build_dataset_defs

#: The first day of ``history``'s ``day_aggs``.
HISTORY_START = date(2006, 1, 3)


#: The shipped code location, loaded from its defs folder.
_shipped = definitions.defs()


def _with_executor(executor: dg.ExecutorDefinition) -> dg.Definitions:
    defs = _shipped
    return dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs,
                          schedules=defs.schedules, sensors=defs.sensors, resources=defs.resources,
                          loggers=defs.loggers, metadata=defs.metadata, executor=executor)


#: Every step of a run in the run's process, one after another (the code location's own choice).
in_process = _with_executor(dg.in_process_executor)
#: One process per step (Dagster's default).
multiprocess = _with_executor(dg.multiprocess_executor)
#: ``day_aggs`` alone, from :data:`HISTORY_START`, with the code location's resources and executor.
history = dg.Definitions.merge(
    build_dataset_defs(dataclasses.replace(DAY_AGGS, start_date=HISTORY_START)),
    dg.Definitions(resources=_shipped.resources, executor=dg.in_process_executor))
