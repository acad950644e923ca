"""Reading partitions' records back from the instance: the lookups the sensors make over a whole history."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from lake_assets.lake.layout import partition_key
from lake_assets.orchestration.healing import latest_partition_metadata, latest_records

CURATED = dg.AssetKey(["day_aggs", "curated"])


def test_the_latest_record_of_each_of_twenty_years_of_partitions_is_found_in_one_lookup() -> None:
    """A fresh cursor's full pass asks for every curated day at once: more than Dagster returns in one query
    (10,000 records), so the lookup must page rather than ask for twice the keys."""
    keys = [partition_key(date(2006, 1, 2) + timedelta(days=offset)) for offset in range(6_000)]
    instance = dg.DagsterInstance.ephemeral()
    for key, rows in ((keys[0], 1), (keys[3_000], 2), (keys[3_000], 3), (keys[-1], 4)):
        instance.report_runless_asset_event(dg.AssetMaterialization(CURATED, partition=key, metadata={"rows": rows}))
    found = latest_records(instance, CURATED, keys)
    assert sorted(found) == [keys[0], keys[3_000], keys[-1]]
    metadata = latest_partition_metadata(instance, CURATED, keys)
    assert {key: value["rows"].value for key, value in metadata.items()} == {keys[0]: 1, keys[3_000]: 3,
                                                                            keys[-1]: 4}
