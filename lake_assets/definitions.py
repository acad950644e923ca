"""The Dagster code location: everything the defs folder (:mod:`lake_assets.defs`) declares.

``dg dev``, ``dg check defs`` and ``dg list defs`` find it through ``[tool.dg]`` in ``pyproject.toml``;
``workspace.yaml`` (``dagster dev``, the daemon, the deployment's code server) names this module.
Nothing is read from the environment or S3 when it loads.
"""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    """The datasets' definitions, the assets built on the lake, their automation, resources and executor."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
