"""Dagster wiring, built from dataset specs by :func:`~lake_assets.defs.factory.build_dataset_defs`."""
