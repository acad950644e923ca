"""The lake's IO manager: assets read and write Hive-partitioned Parquet in the lake bucket, with the transfer
resource's settings: writes go through the transfer layer (its credentials, SSE, single-request writes and
statistics); reads check existence through it, then let polars scan the objects with its own S3 client.

Where an asset lives: the definition metadata ``lake/prefix`` and ``lake/filename`` (the curated and
monthly assets declare theirs), else ``assets/<asset key path>`` and ``data.parquet``. Under the prefix:
``year=YYYY/month=MM/day=DD/<filename>`` for a daily (or weekday) partition, ``year=YYYY/month=MM/<filename>``
for a monthly one, ``<filename>`` for an unpartitioned asset. An asset that declares its calendar
(``lake/calendar``: the curated assets) holds no object on a day the calendar closes, and a load reads
around such days rather than failing on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import dagster as dg
import polars as pl

from lake_assets.lake.calendars import CALENDARS, closure
from lake_assets.lake.curation import to_parquet
from lake_assets.lake.frames import FrameLayoutError, split_by_day
from lake_assets.lake.layout import HiveLayout, partition_date
from lake_assets.orchestration.partitions import WEEKDAYS
from lake_assets.orchestration.resources import S3TransferResource
from lake_assets.s3 import resolve_credentials

PREFIX_KEY, FILENAME_KEY, CALENDAR_KEY = "lake/prefix", "lake/filename", "lake/calendar"
#: From this many partitions on, a load checks existence by listing their month prefixes (a LIST
#: answers up to 1,000 keys) instead of a HEAD per partition: 60 days cost 3 requests, not 60.
LIST_FROM = 2
#: Input metadata that lets a load skip upstream partitions that are not in the lake.
ALLOW_MISSING = "allow_missing_partitions"


class MissingPartitionsError(LookupError):
    """Upstream partitions an input needs are not in the lake."""


def lake_metadata(prefix: str, filename: str = "data.parquet", calendar: str | None = None) -> dict[str, str]:
    """Definition metadata placing an asset's objects under ``prefix`` with ``filename``; with ``calendar``, its
    days that calendar closes hold no object."""
    return {PREFIX_KEY: prefix, FILENAME_KEY: filename, **({CALENDAR_KEY: calendar} if calendar else {})}


class LakeParquetIOManager(dg.ConfigurableIOManager):
    """Stores asset outputs as Parquet in the lake and loads inputs as one ``pl.LazyFrame``.

    ``load_input`` checks, in one batch, that the upstream partitions the input maps to (one, a range, or a
    month's days) are in the lake, and scans exactly those with polars into one frame with the newest
    partition's columns (an older day lacking one has nulls there): a ``pl.LazyFrame`` by default, a
    ``pl.DataFrame`` when the input is annotated so, ``dict[str, pl.LazyFrame]`` by partition key when
    annotated as a dict. A missing upstream partition fails the load, naming it, unless the input's
    metadata sets ``allow_missing_partitions``.
    ``handle_output`` writes a frame onto the run's partitions; a range run's frame is split by its
    ``date_column`` and a row dated outside the run fails it before anything is written. ``None``
    (an asset that wrote its objects itself) is left alone.
    """

    lake_s3: S3TransferResource
    date_column: str = "date"

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        frame = obj.collect() if isinstance(obj, pl.LazyFrame) else obj
        if not isinstance(frame, pl.DataFrame):
            raise TypeError(f"{context.asset_key.to_user_string()}: the lake stores polars frames, not "
                            f"{type(obj).__name__}")
        layout = _layout(context.asset_key, context.definition_metadata)
        keys = list(context.asset_partition_keys) if context.has_asset_partitions else []
        parts = self._parts(context, frame, keys)
        objects = {key: _object_key(layout, context.asset_partitions_def if keys else None, key) for key in parts}
        with self.lake_s3.open() as lake:
            for key, part in parts.items():
                lake.put_bytes(self.lake_s3.bucket, objects[key], to_parquet(part), overwrite=True,
                               content_type="application/vnd.apache.parquet")
        columns = [dg.TableColumn(name, str(dtype)) for name, dtype in frame.schema.items()]
        metadata: dict[str, Any] = {"dagster/column_schema": dg.TableSchema(columns=columns)}
        if len(parts) == 1:
            metadata["dagster/row_count"] = metadata["dagster/partition_row_count"] = frame.height
            metadata["dagster/uri"] = f"s3://{self.lake_s3.bucket}/{next(iter(objects.values()))}"
        else:  # every partition's record carries the run's metadata: a summary, not a map of the range per day
            metadata["run_rows"] = frame.height
            metadata["run_partitions"] = f"{keys[0]}..{keys[-1]} ({len(keys)} partitions)"
            metadata["uri_template"] = (f"s3://{self.lake_s3.bucket}/{layout.listing_prefix}year=YYYY/month=MM/day=DD/"
                                        f"{layout.filename}")
        context.add_output_metadata(metadata)

    def _parts(self, context: dg.OutputContext, frame: pl.DataFrame, keys: list[str]) -> dict[str, pl.DataFrame]:
        """The frame of each partition the run writes: the whole frame for one partition (or none)."""
        if len(keys) <= 1:
            return {keys[0] if keys else "": frame}
        daily = _cadence(context.asset_partitions_def) == "DAILY"
        if not daily:
            raise FrameLayoutError(f"{context.asset_key.to_user_string()}: a range run writes daily partitions only")
        return split_by_day(frame, self.date_column, keys, context.asset_key.to_user_string())

    def load_input(self, context: dg.InputContext) -> Any:
        upstream = context.upstream_output
        if upstream is None:
            raise dg.Failure("the lake IO manager loads asset inputs only")
        layout = _layout(upstream.asset_key, upstream.definition_metadata)
        keys = list(context.asset_partition_keys) if context.has_asset_partitions else [""]
        partitions = context.asset_partitions_def if context.has_asset_partitions else None
        objects = {key: _object_key(layout, partitions, key) for key in keys}
        bucket = self.lake_s3.bucket
        with self.lake_s3.open() as lake:
            present = lake.existing_keys(bucket, objects.values(), threshold=LIST_FROM)
        closed = _closed_days(upstream.definition_metadata, keys)
        missing = [key for key, object_key in objects.items() if object_key not in present and key not in closed]
        if missing and not (context.definition_metadata or {}).get(ALLOW_MISSING):
            raise MissingPartitionsError(
                f"{context.name}: {len(missing)} partition(s) of {upstream.asset_key.to_user_string()} are not "
                f"in the lake ({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); materialise them "
                f"first, or set AssetIn(metadata={{'{ALLOW_MISSING}': True}})")
        uris = {key: f"s3://{bucket}/{object_key}" for key, object_key in objects.items() if object_key in present}
        return _as_annotated(context, uris, scan_options(self.lake_s3))


def _closed_days(metadata: Mapping[str, Any] | None, keys: list[str]) -> set[str]:
    """The daily ``keys`` the calendar an upstream asset declares closes (none if it declares none)."""
    calendar = _text((metadata or {}).get(CALENDAR_KEY))
    if calendar not in CALENDARS:
        return set()
    return {key for key in keys if key and closure(calendar, partition_date(key))}  # type: ignore[arg-type]


def scan_options(resource: S3TransferResource) -> dict[str, Any]:
    """Keyword arguments for ``pl.scan_parquet`` that read the lake as ``resource`` does: its endpoint, region,
    addressing style and identity (static keys, or the same boto3 chain, resolved when polars first reads; no
    expiry is given, so a scan outliving role credentials is not refreshed).

    polars reads with its own S3 client (object_store), which measured twice as fast, cold, as fetching the
    files through the transfer layer first (``bench/io_load.py``); its reads are not in the handler's statistics.
    """
    config = resource.transfer_config()
    options = {"aws_region": config.region}
    if config.endpoint_url:
        options["aws_endpoint_url"] = config.endpoint_url
        options["aws_allow_http"] = str(config.endpoint_url.startswith("http://")).lower()
    options["aws_virtual_hosted_style_request"] = str(config.addressing_style == "virtual").lower()
    if not config.verify_tls:
        options["allow_invalid_certificates"] = "true"
    if config.unsigned:
        return {"storage_options": {**options, "aws_skip_signature": "true"}, "credential_provider": None}

    def credentials() -> tuple[dict[str, str], int | None]:
        frozen = resolve_credentials(config)
        values = {"aws_access_key_id": frozen.access_key, "aws_secret_access_key": frozen.secret_key}
        return ({**values, "aws_session_token": frozen.token} if frozen.token else values), None

    return {"storage_options": options, "credential_provider": credentials}


def in_run(context: dg.AssetExecutionContext, date_column: str = "date") -> pl.Expr:
    """The rows dated within the run's partitions: what an asset that read a look-back returns.

    The IO manager refuses a frame with rows outside the run, so an asset that loaded earlier days
    to compute from filters its result with this.
    """
    window = context.partition_time_window
    return pl.col(date_column).is_between(window.start.date(), window.end.date(), closed="left")


def _layout(asset: dg.AssetKey, metadata: Mapping[str, Any] | None) -> HiveLayout:
    """Where ``asset``'s objects live: its declared prefix and filename, or the default for user assets."""
    metadata = metadata or {}
    prefix = _text(metadata.get(PREFIX_KEY)) or "assets/" + "/".join(asset.path)
    return HiveLayout(prefix, _text(metadata.get(FILENAME_KEY)) or "data.parquet")


def _text(value: Any) -> str | None:
    """A metadata entry's string, whether it is a raw value or a ``TextMetadataValue``."""
    if value is None:
        return None
    return str(value.value) if isinstance(value, dg.MetadataValue) else str(value)


def _object_key(layout: HiveLayout, partitions: dg.PartitionsDefinition | None, key: str) -> str:
    """The object key of one partition (or of the whole table when ``partitions`` is None)."""
    if partitions is None:
        return f"{layout.prefix}/{layout.filename}"
    kind = _cadence(partitions)
    if kind == "DAILY":
        return layout.key_for_partition(key)
    if kind == "MONTHLY":
        day: date = partition_date(key)
        return layout.month_prefix(day.year, day.month) + layout.filename
    raise FrameLayoutError(f"the lake stores daily, monthly or unpartitioned assets, not {partitions}")


def _cadence(partitions: dg.PartitionsDefinition) -> str | None:
    """``DAILY``, ``MONTHLY`` (...) for time-window partitions (their public ``schedule_type``; weekdays are
    daily partitions with gaps), else None."""
    if getattr(partitions, "cron_schedule", None) == WEEKDAYS:
        return "DAILY"
    kind = getattr(partitions, "schedule_type", None)
    return kind.name if kind is not None else None


def _as_annotated(context: dg.InputContext, uris: dict[str, str], options: dict[str, Any]) -> Any:
    """The partitions at ``uris`` (partition key -> URI, in partition order) as the input's annotation asks.

    One frame is one polars scan over every URI with the newest partition's columns: an older day
    without one of them has nulls there, and a column dropped since is not loaded. A dict is a scan per
    partition.
    """
    wanted = context.dagster_type.typing_type
    if getattr(wanted, "__origin__", None) is dict or wanted is dict:
        return {key: pl.scan_parquet(uri, **options) for key, uri in uris.items()}
    if not uris:
        return pl.DataFrame() if wanted is pl.DataFrame else pl.LazyFrame()
    newest = list(uris.values())[-1]
    schema = pl.scan_parquet(newest, **options).collect_schema()
    frame = pl.scan_parquet(list(uris.values()), schema=schema, missing_columns="insert", extra_columns="ignore",
                            **options)
    return frame.collect() if wanted is pl.DataFrame else frame
