"""Dagster wiring, built from dataset specs by :func:`~lake_assets.orchestration.factory.build_dataset_defs`."""
