"""Dataset declarations (``defs.yaml``): the shipped ones build the shipped datasets; a declaration adds a feed of a
known kind with its own start date and vendor prefix, and the Dagster definitions build from it; every mistake is
named with its file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from lake_assets.lake.datasets import DAY_AGGS, NODAL_PRICES
from lake_assets.lake.datasets.config import DatasetConfigError, load_datasets
from lake_assets.orchestration.component import COMPONENT_TYPE, declared_datasets
from lake_assets.orchestration.factory import build_dataset_defs


def declare(folder: Path, name: str, attributes: str, component_type: str = COMPONENT_TYPE) -> Path:
    """Write ``folder/name/defs.yaml`` declaring a component of ``component_type`` with ``attributes`` (YAML)."""
    path = folder / name / "defs.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    indented = "".join(f"  {line}\n" for line in attributes.splitlines())
    path.write_text(f"type: {component_type}\nattributes:\n{indented}")
    return path


def test_the_shipped_declarations_build_the_shipped_datasets() -> None:
    assert declared_datasets() == (DAY_AGGS, NODAL_PRICES)


def test_a_feed_of_a_known_kind_is_a_declaration_with_its_start_date_and_vendor_prefix(tmp_path: Path) -> None:
    declare(tmp_path, "index_history", "name: index_history\nkind: day_aggs\nstart_date: 2006-01-03\n"
                                       "source: indices/daily/{yyyy}/{date}.csv.gz")
    declare(tmp_path, "other", "name: not_a_dataset", component_type="some.other.Component")
    (spec,) = load_datasets(tmp_path, COMPONENT_TYPE)
    assert (spec.name, spec.start_date, spec.source.key(date(2006, 1, 3))) == (
        "index_history", date(2006, 1, 3), "indices/daily/2006/2006-01-03.csv.gz")
    assert (spec.schema, spec.calendar, spec.timezone) == (DAY_AGGS.schema, "nyse", DAY_AGGS.timezone)
    assert spec.curated.listing_prefix == "curated/dataset=index_history/"
    raw = next(a for a in build_dataset_defs(spec).assets or [] if isinstance(a, dg.AssetsDefinition)
               and a.key == dg.AssetKey(["index_history", "raw"]))
    assert raw.partitions_def is not None and raw.partitions_def.get_first_partition_key() == "2006-01-03"


@pytest.mark.parametrize(("attributes", "message"), [
    ("name: feed\nkind: minute_aggs", "unknown kind 'minute_aggs'"),
    ("name: feed\nkind: day_aggs\nstart: 2006-01-03", "unknown attribute(s) ['start']"),
    ("name: feed\nkind: day_aggs\nstart_date: January", "start_date must be a date"),
    ("name: feed\nkind: day_aggs\nsource: feed/{yyyy}/{week}.csv.gz", "source: unknown placeholder"),
    ("name: Feed-1\nkind: day_aggs", "a dataset name is lower case"),
    ("kind: day_aggs", "name None"),
    ("name: [feed", "not valid YAML"),
])
def test_a_mistake_in_a_declaration_is_named_with_its_file(tmp_path: Path, attributes: str, message: str) -> None:
    path = declare(tmp_path, "feed", attributes)
    with pytest.raises(DatasetConfigError) as raised:
        load_datasets(tmp_path, COMPONENT_TYPE)
    assert message in str(raised.value) and str(path) in str(raised.value)


def test_a_folder_without_datasets_or_with_one_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetConfigError, match="declares no dataset"):
        load_datasets(tmp_path, COMPONENT_TYPE)
    declare(tmp_path, "a", "name: feed\nkind: day_aggs")
    declare(tmp_path, "b", "name: feed\nkind: spp_nodal_prices")
    with pytest.raises(DatasetConfigError, match=r"\['feed'\] declared more than once"):
        load_datasets(tmp_path, COMPONENT_TYPE)
