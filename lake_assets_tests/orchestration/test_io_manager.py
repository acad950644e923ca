"""The lake's IO manager on the embedded SeaweedFS: user assets read the curated zone as one LazyFrame (one
partition, a look-back range, a range with a gap, a month of days) and write their own Hive Parquet, range runs
included, encrypted; what they wrote is read back by polars' own Hive scan and pyarrow's dataset API, and DuckDB
queries the curated zone by its Hive columns as polars reads it."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import duckdb
import duckdb_extension_httpfs
import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pytest

from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.lake.frames import FrameLayoutError
from lake_assets.orchestration.factory import build_dataset_defs
from lake_assets.orchestration.io_manager import MissingPartitionsError, scan_options
from lake_assets.orchestration.partitions import daily_partitions, monthly_partitions
from lake_assets.orchestration.resources import S3TransferResource
from lake_assets_tests.conftest import publish

pytestmark = pytest.mark.integration
JAN = [date(2024, 1, d) for d in (2, 3, 4, 5, 8, 9, 10)]
DAYS, MONTHS = daily_partitions(DAY_AGGS), monthly_partitions(DAY_AGGS)
CURATED = dg.AssetKey(["day_aggs", "curated"])


def curate(resources: dict[str, object], lake: dict[str, S3TransferResource], days: list[date]) -> None:
    """Publish and curate ``days`` with the lake's own assets."""
    publish(lake, DAY_AGGS, days)
    shipped = build_dataset_defs(DAY_AGGS)
    assets = [a for a in shipped.assets or [] if isinstance(a, dg.AssetsDefinition)
              and a.key.path[-1] in ("raw", "curated")]
    for day in days:
        assert dg.materialize(assets, partition_key=day.isoformat(), resources=resources).success


def with_upstream(asset: dg.AssetsDefinition, resources: dict[str, object],
                  **kwargs: object) -> dg.ExecuteInProcessResult:
    """Materialise ``asset`` alone, with the shipped curated asset beside it as its (already materialised) upstream."""
    curated = next(a for a in build_dataset_defs(DAY_AGGS).assets or []
                   if isinstance(a, dg.AssetsDefinition) and a.key == CURATED)
    return dg.materialize([curated, asset], selection=[asset], resources=resources, **kwargs)


def test_a_look_back_input_is_one_lazy_frame_over_exactly_its_partitions(resources: dict[str, object],
                                                                        lake: dict[str, S3TransferResource]) -> None:
    curate(resources, lake, JAN[:3])
    seen: dict[str, object] = {}

    look_back = dg.TimeWindowPartitionMapping(start_offset=-1)

    @dg.asset(partitions_def=DAYS, ins={"bars": dg.AssetIn(key=CURATED, partition_mapping=look_back)})
    def daily_returns(bars: pl.LazyFrame) -> pl.DataFrame:
        seen["type"], frame = type(bars), bars.collect()
        seen["dates"] = sorted(set(frame["date"].to_list()))
        return frame.sort("ticker", "date").with_columns(
            (pl.col("close") / pl.col("close").shift(1).over("ticker") - 1).alias("return")
        ).filter(pl.col("date") == pl.col("date").max()).select("ticker", "date", "return")

    result = with_upstream(daily_returns, resources, partition_key="2024-01-04")
    assert result.success and seen == {"type": pl.LazyFrame, "dates": [date(2024, 1, 3), date(2024, 1, 4)]}
    uri = result.asset_materializations_for_node("daily_returns")[0].metadata["dagster/uri"].value
    assert uri == f"s3://{lake['lake_s3'].bucket}/assets/daily_returns/year=2024/month=01/day=04/data.parquet"
    with lake["lake_s3"].open() as handler:
        info = handler.info(lake["lake_s3"].bucket, uri.split("/", 3)[3])
    assert info.server_side_encryption == "AES256"


def test_a_gap_in_the_upstream_range_fails_clearly_unless_the_input_allows_it(
        resources: dict[str, object], lake: dict[str, S3TransferResource]) -> None:
    curate(resources, lake, [JAN[0], JAN[2]])  # 2024-01-03 never curated

    def build(allow: bool) -> dg.AssetsDefinition:
        @dg.asset(name=f"window_{allow}", partitions_def=DAYS, ins={"bars": dg.AssetIn(
            key=CURATED, partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-2),
            metadata={"allow_missing_partitions": allow})})
        def window(bars: pl.DataFrame) -> pl.DataFrame:
            return bars.group_by("date").len().sort("date")
        return window

    with pytest.raises(MissingPartitionsError, match=r"1 partition\(s\) of day_aggs/curated are not in the lake "
                                                     r"\(2024-01-03\)"):
        with_upstream(build(False), resources, partition_key="2024-01-04")
    result = with_upstream(build(True), resources, partition_key="2024-01-04")
    assert result.success
    assert result.asset_materializations_for_node("window_True")[0].metadata["dagster/row_count"].value == 2


def test_a_month_reads_its_days_and_a_range_run_writes_each_day(resources: dict[str, object],
                                                                lake: dict[str, S3TransferResource]) -> None:
    curate(resources, lake, JAN)

    # a month starting on a closed day (New Year's Day): Dagster 1.13 calls that day a nonexistent upstream partition
    every_day = dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True)

    @dg.asset(partitions_def=MONTHS, ins={"bars": dg.AssetIn(key=CURATED, partition_mapping=every_day,
                                                             metadata={"allow_missing_partitions": True})})
    def monthly_volume(bars: pl.LazyFrame) -> pl.DataFrame:
        return bars.group_by("ticker").agg(pl.col("volume").sum(), pl.col("date").n_unique().alias("days")).collect()

    month = with_upstream(monthly_volume, resources, partition_key="2024-01-01")  # 7 of January's 21 days so far
    assert month.success
    with lake["lake_s3"].open() as handler:
        summary = pl.read_parquet(handler.get_bytes(lake["lake_s3"].bucket,
                                                    "assets/monthly_volume/year=2024/month=01/data.parquet"))
    assert summary.height == 100 and summary["days"].unique().to_list() == [len(JAN)]
    assert month.asset_materializations_for_node("monthly_volume")[0].metadata["dagster/uri"].value.endswith(
        "assets/monthly_volume/year=2024/month=01/data.parquet")

    @dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run(),
              ins={"bars": dg.AssetIn(key=CURATED)})
    def spreads(bars: pl.LazyFrame) -> pl.LazyFrame:
        return bars.select("ticker", "date", (pl.col("high") - pl.col("low")).alias("spread"))

    ranged = with_upstream(spreads, resources, tags={
        "dagster/asset_partition_range_start": "2024-01-03", "dagster/asset_partition_range_end": "2024-01-08"})
    assert ranged.success
    bucket = lake["lake_s3"].bucket
    with lake["lake_s3"].open() as handler:
        written = {info.key: handler.info(bucket, info.key).server_side_encryption
                   for info in handler.iter_objects(bucket, "assets/spreads/")}
    assert sorted(written) == [f"assets/spreads/year=2024/month=01/day={d:02d}/data.parquet" for d in (3, 4, 5, 8)]
    assert set(written.values()) == {"AES256"}
    # each day's record carries the run's metadata, so it is the run's summary, not a map of the range per day (a
    # 250-day range's maps weighed 30 KB in each of its 250 records)
    records = ranged.asset_materializations_for_node("spreads")
    assert [record.partition for record in records] == ["2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"]
    summary = {name: value.value for name, value in records[0].metadata.items() if name != "dagster/column_schema"}
    assert summary == {"run_rows": 400, "run_partitions": "2024-01-03..2024-01-08 (4 partitions)",
                       "uri_template": f"s3://{bucket}/assets/spreads/year=YYYY/month=MM/day=DD/data.parquet"}
    read_back = read_with_polars(lake["lake_s3"], bucket, "assets/spreads/")
    assert read_back.height == 400 and sorted(read_back["day"].unique().to_list()) == [3, 4, 5, 8]
    by_arrow = read_with_pyarrow(lake["lake_s3"], bucket, "assets/spreads/")
    assert by_arrow.num_rows == 400 and sorted(set(by_arrow.column("day").to_pylist())) == [3, 4, 5, 8]
    assert by_arrow.schema.names[-3:] == ["year", "month", "day"]
    assert pl.from_arrow(by_arrow.select(["ticker", "date", "spread"])).sort("date", "ticker").equals(
        read_back.select("ticker", "date", "spread").sort("date", "ticker"))


def test_a_range_run_refuses_rows_dated_outside_it_and_writes_nothing(resources: dict[str, object],
                                                                      lake: dict[str, S3TransferResource]) -> None:
    @dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
    def stray() -> pl.DataFrame:
        return pl.DataFrame({"date": [date(2024, 1, 3), date(2024, 1, 9)], "x": [1, 2]})

    with pytest.raises(FrameLayoutError, match=r"1 row\(s\) dated outside the run's partitions "
                                               r"2024-01-03..2024-01-05 \(2024-01-09\); nothing was written"):
        dg.materialize([stray], resources=resources, tags={
            "dagster/asset_partition_range_start": "2024-01-03", "dagster/asset_partition_range_end": "2024-01-05"})
    with lake["lake_s3"].open() as handler:
        assert not list(handler.iter_objects(lake["lake_s3"].bucket, "assets/stray/"))


def read_with_polars(resource: S3TransferResource, bucket: str, prefix: str) -> pl.DataFrame:
    """Read a Hive prefix with polars' own S3 client (object_store), not ours: year/month/day become columns."""
    options = {"aws_endpoint_url": resource.endpoint_url, "aws_access_key_id": resource.aws_access_key_id,
               "aws_secret_access_key": resource.aws_secret_access_key, "aws_region": resource.region_name,
               "aws_allow_http": "true"}
    return pl.scan_parquet(f"s3://{bucket}/{prefix}**/*.parquet", hive_partitioning=True,
                           storage_options=options).collect()


def read_with_pyarrow(resource: S3TransferResource, bucket: str, prefix: str) -> pa.Table:
    """Read a Hive prefix with pyarrow's dataset API and its own S3 filesystem (the AWS C++ SDK)."""
    filesystem = pafs.S3FileSystem(access_key=resource.aws_access_key_id, secret_key=resource.aws_secret_access_key,
                                   region=resource.region_name, endpoint_override=resource.endpoint_url)
    return pads.dataset(f"{bucket}/{prefix}", filesystem=filesystem, format="parquet", partitioning="hive").to_table()


def test_a_range_over_a_schema_change_loads_with_nulls_where_a_day_lacks_the_column(
        resources: dict[str, object], lake: dict[str, S3TransferResource]) -> None:
    @dg.asset(partitions_def=DAYS)
    def evolving(context) -> pl.DataFrame:  # no annotation: Dagster refuses this module's string annotations
        day = date.fromisoformat(context.partition_key)
        frame = pl.DataFrame({"date": [day], "x": [1]})
        return frame.with_columns(y=pl.lit("new")) if day >= JAN[1] else frame  # a column added on the 3rd

    for day in JAN[:2]:
        assert dg.materialize([evolving], partition_key=day.isoformat(), resources=resources).success

    @dg.asset(partitions_def=DAYS, ins={"rows": dg.AssetIn(
        key=evolving.key, partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1))})
    def reader(rows: pl.DataFrame) -> None:
        assert rows.sort("date").to_dicts() == [{"date": JAN[0], "x": 1, "y": None},
                                                {"date": JAN[1], "x": 1, "y": "new"}]

    result = dg.materialize([evolving, reader], selection=[reader], partition_key=JAN[1].isoformat(),
                            resources=resources)
    assert result.success


@pytest.mark.parametrize("settings, expected", [
    ({"endpoint_url": "http://127.0.0.1:9000", "addressing_style": "path", "aws_access_key_id": "AK",
      "aws_secret_access_key": "SK"},
     {"aws_region": "us-east-1", "aws_endpoint_url": "http://127.0.0.1:9000", "aws_allow_http": "true",
      "aws_virtual_hosted_style_request": "false"}),
    ({"addressing_style": "virtual", "aws_access_key_id": "AK", "aws_secret_access_key": "SK",
      "aws_session_token": "TOKEN"},
     {"aws_region": "us-east-1", "aws_virtual_hosted_style_request": "true"}),
])
def test_polars_reads_with_the_resource_endpoint_and_identity(settings: dict[str, str],
                                                              expected: dict[str, str]) -> None:
    options = scan_options(S3TransferResource(bucket="lake", region_name="us-east-1", **settings))
    assert options["storage_options"] == expected
    values, expiry = options["credential_provider"]()
    assert values["aws_access_key_id"] == "AK" and values.get("aws_session_token") == settings.get("aws_session_token")
    assert expiry is None


def test_polars_reads_unsigned_when_the_resource_does() -> None:
    options = scan_options(S3TransferResource(bucket="open-data", region_name="us-east-1",
                                              use_unsigned_session=True))
    assert options["credential_provider"] is None and options["storage_options"]["aws_skip_signature"] == "true"


#: DuckDB's S3 support, from the duckdb-extension-httpfs wheel: loaded from disk, nothing downloaded at query time.
HTTPFS = (Path(duckdb_extension_httpfs.__file__).parent / "extensions" / f"v{duckdb.__version__}"
          / "httpfs.duckdb_extension")


def query_with_duckdb(resource: S3TransferResource, sql: str) -> pl.DataFrame:
    """Run ``sql`` in DuckDB with an S3 secret for the resource's endpoint and identity (README, "Reading the lake
    outside Dagster")."""
    endpoint = urlsplit(resource.endpoint_url or "")
    with duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}) as con:
        con.load_extension(str(HTTPFS))
        con.execute(f"CREATE SECRET lake (TYPE s3, KEY_ID '{resource.aws_access_key_id}', "
                    f"SECRET '{resource.aws_secret_access_key}', REGION '{resource.region_name}', "
                    f"ENDPOINT '{endpoint.netloc}', URL_STYLE 'path', USE_SSL {endpoint.scheme == 'https'})")
        return con.sql(sql).pl()


def test_duckdb_queries_the_curated_zone_by_its_hive_columns_as_polars_reads_it(
        resources: dict[str, object], lake: dict[str, S3TransferResource]) -> None:
    curate(resources, lake, JAN)
    bucket = lake["lake_s3"].bucket
    prefix = DAY_AGGS.curated.listing_prefix
    by_duckdb = query_with_duckdb(lake["lake_s3"], (
        f"SELECT ticker, volume, close, year, month, day FROM read_parquet('s3://{bucket}/{prefix}*/*/*/*.parquet', "
        "hive_partitioning = true, hive_types = {'year': INTEGER, 'month': INTEGER, 'day': INTEGER}) "
        "WHERE year = 2024 AND month = 1 AND day BETWEEN 3 AND 8 ORDER BY day, ticker"))
    by_polars = (read_with_polars(lake["lake_s3"], bucket, prefix)
                 .filter(pl.col("year") == 2024, pl.col("month") == 1, pl.col("day").is_between(3, 8))
                 .select("ticker", "volume", "close", "year", "month", "day").sort("day", "ticker"))
    assert by_duckdb.height == 4 * 100 and sorted(by_duckdb["day"].unique().to_list()) == [3, 4, 5, 8]
    assert by_duckdb.equals(by_polars.cast(dict(by_duckdb.schema))), (by_duckdb.schema, by_polars.schema)
