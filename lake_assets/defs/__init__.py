"""The project's defs folder (Dagster's ``dg`` layout): what is here is the code location.

* ``<dataset>/defs.yaml``: one dataset of the lake each, a
  :class:`~lake_assets.orchestration.component.LakeDataset` component;
* :mod:`.analytics`: the assets built on the lake, written as a user writes them;
* :mod:`.automation`: the sensor that keeps those current;
* :mod:`.resources`: the two S3 resources, the lake's IO manager, the executor every run uses and the console
  logger.

Dagster loads the folder (``load_from_defs_folder`` in :mod:`lake_assets.definitions`); nothing here reads
the environment or touches S3 when it loads.
"""
