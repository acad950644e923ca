"""lake-assets: Dagster assets for a Hive-partitioned S3 data lake.

The package is layered so each room knows only its own concerns:

* :mod:`lake_assets.s3` is the transfer layer (boto3 only, no Dagster);
* :mod:`lake_assets.layout` holds the pure Hive ``year=/month=/day=`` key arithmetic;
* :mod:`lake_assets.local_s3` installs nothing and reads nothing at import time; it starts and stops the
  embedded SeaweedFS server the project runs against.
"""
