"""lake-assets: Dagster assets for a Hive-partitioned S3 data lake.

The package is layered so each room knows only its own concerns, and imports go one way,
``cli -> analytics -> defs -> lake -> s3``:

* :mod:`lake_assets.s3` is the transfer layer (boto3 and awscrt only, no Dagster);
* :mod:`lake_assets.local_s3` starts and stops the embedded SeaweedFS the project runs against;
* :mod:`lake_assets.lake` is the lake's own logic in plain Python: Hive layout, calendars, datasets,
  checks, curation, the steps of one partition, sensor planning and coverage;
* :mod:`lake_assets.defs` is the Dagster wiring, built from dataset specs, and what assets built on the
  lake use (the IO manager, ``keep_current``);
* :mod:`lake_assets.analytics` holds the assets built on the lake, written as a user writes them;
* :mod:`lake_assets.cli` is the ``lake`` command and what only it uses.

Nothing reads the environment or touches S3 at import time.
"""
