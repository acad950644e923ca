"""The datasets the code location builds, as configured in ``datasets.toml``: each is a shipped kind
(:data:`KINDS`: schema, checks, calendar, rollup) with its own name, vendor key template and start date.

So a second feed of a known kind, or an older start, is configuration, not a code edit. The file ships
inside the package, so the definitions are the same wherever they load and do not depend on the day or the
environment they load in.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

from lake_assets.lake.datasets.catalog import DAY_AGGS, NODAL_PRICES
from lake_assets.lake.datasets.spec import DatasetSpec
from lake_assets.lake.layout import KeyTemplate

#: The shipped configuration.
CONFIG = Path(__file__).with_name("datasets.toml")
#: The kinds of dataset a table can name, by name.
KINDS: dict[str, DatasetSpec] = {spec.name: spec for spec in (DAY_AGGS, NODAL_PRICES)}
_KEYS = {"kind", "start_date", "source"}
_NAME = re.compile(r"[a-z][a-z0-9_]*")


class DatasetConfigError(ValueError):
    """The datasets file is not valid; the message names the file, the table and what is wrong."""


def load_datasets(path: Path = CONFIG) -> tuple[DatasetSpec, ...]:
    """Read the datasets ``path`` configures, in the file's order.

    Raises:
        DatasetConfigError: unreadable TOML, an unknown kind or key, a bad name, date or key template.
    """
    try:
        tables = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise DatasetConfigError(f"{path}: not valid TOML: {exc}") from exc
    if not tables:
        raise DatasetConfigError(f"{path}: configures no dataset")
    return tuple(_dataset(name, table, f"{path}: [{name}]") for name, table in tables.items())


def _dataset(name: str, table: Any, where: str) -> DatasetSpec:
    """One table's dataset."""
    if not isinstance(table, dict):
        raise DatasetConfigError(f"{where}: expected a table of {sorted(_KEYS)}")
    if unknown := set(table) - _KEYS:
        raise DatasetConfigError(f"{where}: unknown key(s) {sorted(unknown)}; expected {sorted(_KEYS)}")
    if not _NAME.fullmatch(name):
        raise DatasetConfigError(f"{where}: a dataset name is lower case letters, digits and underscores")
    kind = KINDS.get(table.get("kind", name))
    if kind is None:
        raise DatasetConfigError(f"{where}: unknown kind {table.get('kind', name)!r}; one of {sorted(KINDS)}")
    start = table.get("start_date", kind.start_date)
    if type(start) is not date:
        raise DatasetConfigError(f"{where}: start_date must be a date (start_date = 2024-01-02), not {start!r}")
    try:
        source = KeyTemplate(table["source"]) if "source" in table else kind.source
    except (ValueError, TypeError) as exc:
        raise DatasetConfigError(f"{where}: source: {exc}") from exc
    return dataclasses.replace(kind, name=name, start_date=start, source=source)
