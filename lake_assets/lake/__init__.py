"""The lake's own logic, plain Python and no Dagster: Hive layout, calendars, datasets, checks, curation,
the steps of one partition (mirror, curate, roll up), what a sensor tick plans, and coverage."""
