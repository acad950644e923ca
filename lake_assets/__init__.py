"""lake-assets: Dagster assets for a Hive-partitioned S3 data lake.

The package is layered so each room knows only its own concerns, and imports go one way,
``cli -> definitions -> defs -> orchestration -> lake -> s3``:

* :mod:`lake_assets.s3` is the transfer layer (boto3 and awscrt only, no Dagster);
* :mod:`lake_assets.local_s3` starts and stops the embedded SeaweedFS the project runs against;
* :mod:`lake_assets.lake` is the lake's own logic in plain Python: Hive layout, calendars, datasets,
  checks, curation, the steps of one partition, sensor planning and coverage;
* :mod:`lake_assets.orchestration` is the Dagster wiring: the ``LakeDataset`` component that builds a dataset's
  definitions from its spec, and what assets built on the lake use (the IO manager, ``keep_current``);
* :mod:`lake_assets.defs` is Dagster's defs folder: each dataset's ``defs.yaml``, the assets built on the lake
  (written as a user writes them), their automation sensor and the resources;
* :mod:`lake_assets.definitions` is the code location: the defs folder, loaded;
* :mod:`lake_assets.cli` is the ``lake`` command and what only it uses.

Nothing reads the environment or touches S3 at import time.
"""
