"""The lake's IO manager: assets read and write Hive-partitioned Parquet in the lake bucket, through the
transfer resource (same credentials, SSE, atomic single-request writes and statistics as the lake's own assets).

Where an asset lives: the definition metadata ``lake/prefix`` and ``lake/filename`` (the curated and
monthly assets declare theirs), else ``assets/<asset key path>`` and ``data.parquet``. Under the prefix:
``year=YYYY/month=MM/day=DD/<filename>`` for a daily partition, ``year=YYYY/month=MM/<filename>`` for
a monthly one, ``<filename>`` for an unpartitioned asset.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from lake_assets.defs.resources import S3TransferResource
from lake_assets.lake.curation import to_parquet
from lake_assets.lake.frames import FrameLayoutError, split_by_day
from lake_assets.lake.layout import HiveLayout, partition_date
from lake_assets.s3 import S3ObjectRef

PREFIX_KEY, FILENAME_KEY = "lake/prefix", "lake/filename"
#: Input metadata that lets a load skip upstream partitions that are not in the lake.
ALLOW_MISSING = "allow_missing_partitions"


class MissingPartitionsError(LookupError):
    """Upstream partitions an input needs are not in the lake."""


def lake_metadata(prefix: str, filename: str = "data.parquet") -> dict[str, str]:
    """Definition metadata placing an asset's objects under ``prefix`` with ``filename``."""
    return {PREFIX_KEY: prefix, FILENAME_KEY: filename}


class LakeParquetIOManager(dg.ConfigurableIOManager):
    """Stores asset outputs as Parquet in the lake and loads inputs as one ``pl.LazyFrame``.

    ``load_input`` reads exactly the upstream partitions the input maps to (one, a range, or a month's
    days) into one frame: a ``pl.LazyFrame`` by default, a ``pl.DataFrame`` when the input is annotated
    so, ``dict[str, pl.LazyFrame]`` by partition key when annotated as a dict. A missing upstream
    partition fails the load, naming it, unless the input's metadata sets ``allow_missing_partitions``.
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
        uris = {key: f"s3://{self.lake_s3.bucket}/{object_key}" for key, object_key in objects.items()}
        columns = [dg.TableColumn(name, str(dtype)) for name, dtype in frame.schema.items()]
        metadata: dict[str, Any] = {"dagster/row_count": frame.height,
                                    "dagster/column_schema": dg.TableSchema(columns=columns)}
        if len(parts) == 1:
            metadata["dagster/partition_row_count"] = frame.height
            metadata["dagster/uri"] = next(iter(uris.values()))
        else:
            metadata["rows_by_partition"] = dg.MetadataValue.json({key: part.height for key, part in parts.items()})
            metadata["uri_by_partition"] = dg.MetadataValue.json(uris)
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
        with self.lake_s3.open() as lake:
            present = lake.existing_keys(self.lake_s3.bucket, objects.values())
            missing = [key for key, object_key in objects.items() if object_key not in present]
            if missing and not (context.definition_metadata or {}).get(ALLOW_MISSING):
                raise MissingPartitionsError(
                    f"{context.name}: {len(missing)} partition(s) of {upstream.asset_key.to_user_string()} are not "
                    f"in the lake ({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); materialise them "
                    f"first, or set AssetIn(metadata={{'{ALLOW_MISSING}': True}})")
            found = {key: object_key for key, object_key in objects.items() if object_key in present}
            local = _download(lake, self.lake_s3.bucket, found)
        return _as_annotated(context, {key: pl.scan_parquet(path) for key, path in local.items()})


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
    """``DAILY``, ``MONTHLY`` (...) for time-window partitions (their public ``schedule_type``), else None."""
    kind = getattr(partitions, "schedule_type", None)
    return kind.name if kind is not None else None


def _download(lake: Any, bucket: str, objects: Mapping[str, str]) -> dict[str, Path]:
    """Fetch ``objects`` (partition key -> object key) into this process's scratch directory, in one batch."""
    scratch = _scratch()
    refs = {key: S3ObjectRef(object_key, scratch / object_key) for key, object_key in objects.items()}
    lake.download_batch(bucket, list(refs.values()), overwrite=True).raise_first_failure()
    return {key: Path(ref.local_path) for key, ref in refs.items()}


_SCRATCH: list[Path] = []


def _scratch() -> Path:
    """A directory for downloaded partitions, removed when the process ends (lazy frames read it later)."""
    if not _SCRATCH:
        path = Path(tempfile.mkdtemp(prefix="lake-io-"))
        atexit.register(shutil.rmtree, path, True)
        _SCRATCH.append(path)
    return _SCRATCH[0]


def _as_annotated(context: dg.InputContext, frames: dict[str, pl.LazyFrame]) -> Any:
    """The loaded partitions as the input's annotation asks: one LazyFrame, one DataFrame, or a dict."""
    wanted = context.dagster_type.typing_type
    if getattr(wanted, "__origin__", None) is dict or wanted is dict:
        return frames
    combined = pl.concat(list(frames.values()), how="diagonal_relaxed") if frames else pl.LazyFrame()
    return combined.collect() if wanted is pl.DataFrame else combined
