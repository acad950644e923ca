"""The datasets a project declares: each is a shipped kind (:data:`KINDS`: schema, checks, calendar, rollup) with its
own name, vendor key template and start date, read from the ``defs.yaml`` files of the project's defs folder.

A dataset is a component instance in Dagster's sense (``type:`` names the component, ``attributes:`` hold
``name``, ``kind``, ``start_date`` and ``source``); this module reads the same files without Dagster, so
the ``lake`` command and the component agree on one registry. A second feed of a known kind, or an older
start, is configuration, not a code edit. The files ship inside the package, so the datasets are the same
wherever they load and do not depend on the day or the environment they load in.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from lake_assets.lake.datasets.catalog import DAY_AGGS, NODAL_PRICES
from lake_assets.lake.datasets.spec import DatasetSpec
from lake_assets.lake.layout import KeyTemplate

#: The kinds of dataset a declaration can name, by name.
KINDS: dict[str, DatasetSpec] = {spec.name: spec for spec in (DAY_AGGS, NODAL_PRICES)}
#: The attributes a declaration may carry; only ``name`` is required.
ATTRIBUTES = ("name", "kind", "start_date", "source")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


class DatasetConfigError(ValueError):
    """A declaration is not valid; the message names its file and what is wrong."""


def dataset_from_attributes(attributes: Mapping[str, Any], where: str) -> DatasetSpec:
    """The dataset one declaration's attributes describe; ``where`` names the declaration in errors.

    Raises:
        DatasetConfigError: an unknown kind or attribute, a bad name, date or key template.
    """
    if unknown := set(attributes) - set(ATTRIBUTES):
        raise DatasetConfigError(f"{where}: unknown attribute(s) {sorted(unknown)}; expected {list(ATTRIBUTES)}")
    name = attributes.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise DatasetConfigError(f"{where}: name {name!r}: a dataset name is lower case letters, digits and "
                                 "underscores, starting with a letter")
    kind = KINDS.get(attributes.get("kind") or name)
    if kind is None:
        raise DatasetConfigError(f"{where}: unknown kind {attributes.get('kind') or name!r}; one of {sorted(KINDS)}")
    start = attributes.get("start_date") or kind.start_date
    try:
        start = start if type(start) is date else date.fromisoformat(str(start))
    except ValueError:
        raise DatasetConfigError(f"{where}: start_date must be a date (start_date: 2024-01-02), "
                                 f"not {start!r}") from None
    try:
        source = KeyTemplate(attributes["source"]) if attributes.get("source") else kind.source
    except (ValueError, TypeError) as exc:
        raise DatasetConfigError(f"{where}: source: {exc}") from exc
    return dataclasses.replace(kind, name=name, start_date=start, source=source)


def load_datasets(folder: Path, component_type: str) -> tuple[DatasetSpec, ...]:
    """Read every dataset declared under ``folder``: the documents of its ``defs.yaml`` files whose ``type`` is
    ``component_type``, in path order (other components are not datasets and are left alone).

    Raises:
        DatasetConfigError: unreadable YAML, a bad declaration, two datasets of one name, or none at all.
    """
    specs: list[DatasetSpec] = []
    for path in sorted(folder.rglob("defs.yaml")):
        try:
            documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        except yaml.YAMLError as exc:
            raise DatasetConfigError(f"{path}: not valid YAML: {exc}") from exc
        for document in documents:
            if isinstance(document, dict) and document.get("type") == component_type:
                attributes = document.get("attributes") or {}
                if not isinstance(attributes, dict):
                    raise DatasetConfigError(f"{path}: attributes must be a mapping of {list(ATTRIBUTES)}")
                specs.append(dataset_from_attributes(attributes, str(path)))
    names = [spec.name for spec in specs]
    if twice := sorted({name for name in names if names.count(name) > 1}):
        raise DatasetConfigError(f"{folder}: dataset(s) {twice} declared more than once")
    if not specs:
        raise DatasetConfigError(f"{folder}: declares no dataset (no defs.yaml of type {component_type})")
    return tuple(specs)
