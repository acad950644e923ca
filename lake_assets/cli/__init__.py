"""The ``lake`` command and what only it uses: the main-job runner, the sample vendor, demos, printed reports."""

from lake_assets.cli.commands import main

__all__ = ["main"]
