"""datasets.toml: the shipped file builds the shipped datasets; a table adds a feed of a known kind with its own
start date and vendor prefix, and the Dagster definitions build from it; every mistake is named with its table."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from lake_assets.defs.factory import build_dataset_defs
from lake_assets.lake.datasets import DATASETS, DAY_AGGS, NODAL_PRICES
from lake_assets.lake.datasets.config import DatasetConfigError, load_datasets


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "datasets.toml"
    path.write_text(text)
    return path


def test_the_shipped_file_builds_the_shipped_datasets() -> None:
    assert DATASETS == (DAY_AGGS, NODAL_PRICES)


def test_a_feed_of_a_known_kind_is_a_table_with_its_start_date_and_vendor_prefix(tmp_path: Path) -> None:
    specs = load_datasets(write(tmp_path, '[index_history]\nkind = "day_aggs"\nstart_date = 2006-01-03\n'
                                          'source = "indices/daily/{yyyy}/{date}.csv.gz"\n'))
    (spec,) = specs
    assert (spec.name, spec.start_date, spec.source.key(date(2006, 1, 3))) == (
        "index_history", date(2006, 1, 3), "indices/daily/2006/2006-01-03.csv.gz")
    assert (spec.schema, spec.calendar, spec.timezone) == (DAY_AGGS.schema, "nyse", DAY_AGGS.timezone)
    assert spec.curated.listing_prefix == "curated/dataset=index_history/"
    raw = next(a for a in build_dataset_defs(spec).assets or [] if isinstance(a, dg.AssetsDefinition)
               and a.key == dg.AssetKey(["index_history", "raw"]))
    assert raw.partitions_def is not None and raw.partitions_def.get_first_partition_key() == "2006-01-03"


@pytest.mark.parametrize(("text", "message"), [
    ('[feed]\nkind = "minute_aggs"\n', "[feed]: unknown kind 'minute_aggs'"),
    ('[feed]\nkind = "day_aggs"\nstart = 2006-01-03\n', "[feed]: unknown key(s) ['start']"),
    ('[feed]\nkind = "day_aggs"\nstart_date = "2006-01-03"\n', "[feed]: start_date must be a date"),
    ('[feed]\nkind = "day_aggs"\nsource = "feed/{yyyy}/{week}.csv.gz"\n', "[feed]: source: unknown placeholder"),
    ('[Feed-1]\nkind = "day_aggs"\n', "[Feed-1]: a dataset name is lower case"),
    ('[feed\n', "not valid TOML"),
    ('', "configures no dataset"),
])
def test_a_mistake_in_the_file_is_named_with_its_table(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DatasetConfigError) as raised:
        load_datasets(write(tmp_path, text))
    assert message in str(raised.value) and str(tmp_path / "datasets.toml") in str(raised.value)
