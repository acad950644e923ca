"""The Dagster code location: assembles what ``lake_assets.defs`` declares, and nothing else.

It is deliberately thin and builds nothing at import time; the datasets, resources, sensors and
schedules arrive with the Dagster lake layer.
"""

import dagster as dg

defs = dg.Definitions()
