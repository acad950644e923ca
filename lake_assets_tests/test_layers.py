"""The package's rooms and the one direction their imports go: cli -> definitions -> defs -> orchestration -> lake -> s3
(local_s3 beside s3; defs is Dagster's defs folder: the datasets' declarations, the assets built on the lake written as
a user writes them, and the resources)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import dagster as dg
import pytest
from dagster._annotations import is_public

PACKAGE = Path(__file__).resolve().parents[1] / "lake_assets"
#: What each room may import from the package (besides itself), and which third-party roots it must not.
ALLOWED = {
    "s3": (set(), {"dagster", "dagster_aws", "rich", "polars"}),
    "local_s3": ({"s3"}, {"dagster", "rich", "polars"}),
    "lake": ({"s3"}, {"dagster", "dagster_aws", "rich"}),
    "orchestration": ({"lake", "s3"}, {"rich"}),
    "defs": ({"orchestration", "lake"}, {"rich", "dagster_aws"}),
    "cli": ({"orchestration", "lake", "s3", "local_s3", "definitions"}, set()),
}
#: The one module of the transfer layer allowed to import rich: the progress-bar adapter.
RICH_ADAPTER = PACKAGE / "s3" / "rich_progress.py"


def imports_of(path: Path) -> set[str]:
    """Every module name ``path`` imports, at any depth of the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_imports_go_one_way(room: str) -> None:
    rooms, banned = ALLOWED[room]
    wrong: list[str] = []
    for path in sorted((PACKAGE / room).rglob("*.py")):
        for name in imports_of(path):
            parts = name.split(".")
            if parts[0] == "lake_assets" and len(parts) > 1 and parts[1] not in rooms | {room}:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {name}")
            if parts[0] in banned and path != RICH_ADAPTER:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert wrong == []


#: The one private Dagster module imported, and where: the type of the documented ``target_materialization_data``
#: parameter of the public ``AssetCheckEvaluation``, which 1.13 does not export; without it a range run's per-day
#: check results never count in the check's Partitions view (``lake_assets/orchestration/checks.py`` says why).
KNOWN_GAP = "checks.py: dagster._core.definitions.asset_checks.asset_check_evaluation"


def test_no_private_dagster_import_and_no_module_over_300_lines() -> None:
    private = [f"{path.name}: {name}" for path in PACKAGE.rglob("*.py") for name in imports_of(path)
               if name.startswith("dagster._") and f"{path.name}: {name}" != KNOWN_GAP]
    long = {path.name: n for path in PACKAGE.rglob("*.py") if (n := len(path.read_text().splitlines())) > 300}
    assert (private, long) == ([], {})


#: The Definitions accessors Dagster 1.13 steers to (``get_sensor_def`` warns and calls ``resolve_sensor_def``).
RESOLVE_ACCESSORS = {"resolve_job_def", "resolve_sensor_def", "resolve_assets_def", "resolve_asset_graph"}
#: Where Dagster's reserved run tags may be named: the one module of the lake's run tags, which reads what Dagster
#: wrote and writes a range request's tags (RunRequest has no public range parameter in 1.13;
#: ``RunRequest.partition_key_range`` reads these very tags).
TAGS_MODULE = "orchestration/tags.py"
#: The ``dagster/*`` metadata keys Dagster documents for a materialization (row count, URI, column schema): metadata,
#: not run tags, so they may be written where the materialization is made.
METADATA_KEYS = {"dagster/row_count", "dagster/partition_row_count", "dagster/uri", "dagster/column_schema"}


def _receiver(node: ast.expr) -> str:
    """What a call's object is, by the names the package gives it: ``instance`` (``context.instance`` too) or
    ``defs``."""
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return {"instance": "instance", "defs": "defs"}.get(name, "")


def _public(cls: type) -> set[str]:
    """The members Dagster marks public, and the attributes its constructor documents (``Definitions.resources``)."""
    marked = {name for name, value in inspect.getmembers(cls) if not name.startswith("_")
              and is_public(value.fget if isinstance(value, property) else value)}
    return marked | set(inspect.signature(cls).parameters)


def test_only_public_dagster_methods_are_called_and_no_reserved_tag_is_written_by_hand() -> None:
    """Fails on a call of a Dagster method it does not mark ``@public`` on a DagsterInstance (its public surface is the
    marked one) or Definitions (and the ``resolve_*`` accessors Dagster's own warnings point to from ``get_*_def``),
    and on any ``dagster/*`` name outside the tags module other than the documented metadata keys."""
    allowed = {"instance": _public(dg.DagsterInstance), "defs": _public(dg.Definitions) | RESOLVE_ACCESSORS}
    members = {"instance": set(dir(dg.DagsterInstance)), "defs": set(dir(dg.Definitions))}
    calls, tags = set(), set()
    for path in sorted(PACKAGE.rglob("*.py")):
        where = str(path.relative_to(PACKAGE))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and (receiver := _receiver(node.value)) \
                    and node.attr in members[receiver] and node.attr not in allowed[receiver]:
                calls.add((where, receiver, node.attr))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value.startswith("dagster/") and node.value not in METADATA_KEYS:
                tags.add((where, node.value))
    assert (calls, {where for where, _ in tags}) == (set(), {TAGS_MODULE})
