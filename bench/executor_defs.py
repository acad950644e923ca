"""The code location with each executor Dagster offers, for ``bench/daemon_backfill.py`` (``-a`` picks one)."""

import dagster as dg

from lake_assets import definitions


def _with_executor(executor: dg.ExecutorDefinition) -> dg.Definitions:
    defs = definitions.defs
    return dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs,
                          schedules=defs.schedules, sensors=defs.sensors, resources=defs.resources,
                          loggers=defs.loggers, metadata=defs.metadata, executor=executor)


#: Every step of a run in the run's process, one after another (the code location's own choice).
in_process = _with_executor(dg.in_process_executor)
#: One process per step (Dagster's default).
multiprocess = _with_executor(dg.multiprocess_executor)
