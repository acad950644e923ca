"""The Dagster code location named in workspace.yaml imports and passes Dagster's own validation."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml

from lake_assets.definitions import defs

ROOT = Path(__file__).resolve().parents[1]


def test_workspace_points_at_the_definitions_module() -> None:
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["python_module"]["module_name"] == "lake_assets.definitions"


def test_definitions_are_loadable() -> None:
    dg.Definitions.validate_loadable(defs)
