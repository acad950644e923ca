"""One partition's work, without Dagster: mirror the vendor file into the raw zone, curate it, roll a month up.

Each function takes open handlers and returns what it did, so the Dagster assets stay declarative
and these steps are testable on their own.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from lake_assets.lake.calendars import publishing_days
from lake_assets.lake.checks import CheckOutcome, Subject, check_partition
from lake_assets.lake.curation import CurationError, parse_vendor_file, to_parquet
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.layout import partition_key
from lake_assets.s3 import ObjectInfo, ObjectNotFoundError, S3Handler, S3ObjectRef

#: User-metadata key on a raw copy naming the ETag of the vendor object it was made from.
SOURCE_ETAG = "source-etag"
#: Earlier publishing days the history checks compare a partition with, and how far back to look for them.
HISTORY_DAYS, HISTORY_SPAN = 5, timedelta(days=14)


class NotPublishedError(LookupError):
    """The vendor has no file for a partition (yet)."""


class ChecksFailedError(CurationError):
    """A partition failed one of its blocking checks; ``outcomes`` holds every check's outcome."""

    def __init__(self, message: str, outcomes: list[CheckOutcome]) -> None:
        super().__init__(message)
        self.outcomes = outcomes


@dataclass(frozen=True)
class Store:
    """An open handler and the bucket it works on."""

    handler: S3Handler
    bucket: str

    def uri(self, key: str) -> str:
        """Return the ``s3://`` URI of ``key`` in this store."""
        return f"s3://{self.bucket}/{key}"


@dataclass(frozen=True)
class MirrorResult:
    """What mirroring one vendor file did."""

    source: ObjectInfo
    raw_key: str
    action: str  # "copied", "transferred" or "up to date"


@dataclass(frozen=True)
class CurateResult:
    """One curated partition as written."""

    key: str
    rows: int
    bytes: int
    schema: dict[str, str]
    outcomes: list[CheckOutcome]
    source_etag: str


def mirror_raw(spec: DatasetSpec, day: date, vendor: Store, lake: Store, server_side: bool,
               workdir: Path) -> MirrorResult:
    """Make the raw zone hold the vendor's current file for ``day``, byte for byte, encrypted.

    Skips the transfer when the raw copy was made from the source's current ETag (recorded in the
    copy's ``source-etag`` metadata; timestamps are only second-accurate). With ``server_side`` the
    bytes never leave the server (CopyObject, pinned to the source's ETag, so a file replaced
    mid-copy fails instead of landing half-old); else they go through ``workdir``.

    Raises:
        NotPublishedError: the vendor has no file for ``day``.
        S3Error: the transfer failed; nothing partial is left in the raw zone.
    """
    source_key = spec.source.key(day)
    raw_key = spec.raw.key(day)
    try:
        source = vendor.handler.info(vendor.bucket, source_key)
    except ObjectNotFoundError as exc:
        raise NotPublishedError(f"{spec.name} {partition_key(day)}: {vendor.uri(source_key)} is not published") from exc
    existing = lake.handler.find(lake.bucket, raw_key)
    if existing is not None and existing.metadata.get(SOURCE_ETAG) == source.etag:
        return MirrorResult(source, raw_key, "up to date")
    provenance = {SOURCE_ETAG: source.etag, "source-key": source_key}
    if server_side:
        lake.handler.copy_object(vendor.bucket, source_key, lake.bucket, raw_key, overwrite=True,
                                 source_etag=source.etag, metadata=provenance)
        return MirrorResult(source, raw_key, "copied")
    local = workdir / f"{spec.name}-{partition_key(day)}{Path(source_key).suffix}"
    vendor.handler.download_batch(vendor.bucket, [S3ObjectRef(source_key, local)], overwrite=True).raise_first_failure()
    lake.handler.upload_batch(lake.bucket, [S3ObjectRef(raw_key, local, provenance)],
                              overwrite=True).raise_first_failure()
    return MirrorResult(source, raw_key, "transferred")


class History:
    """The curated partitions before a day, for the checks that compare with earlier days: at most
    ``days`` publishing days back, each read once per run (a range run curates day after day, and the
    day just curated is the next one's history)."""

    def __init__(self, spec: DatasetSpec, lake: Store, days: int = HISTORY_DAYS) -> None:
        self.spec, self.lake, self.days = spec, lake, days
        self._frames: dict[date, pl.DataFrame | None] = {}

    def before(self, day: date) -> list[tuple[date, pl.DataFrame]]:
        """The curated partitions of the publishing days before ``day`` that are in the lake, oldest first."""
        earlier = publishing_days(self.spec.calendar, day - HISTORY_SPAN, day - timedelta(days=1))[-self.days:]
        keys = {earlier_day: self.spec.curated.key(earlier_day) for earlier_day in earlier
                if earlier_day not in self._frames}
        if keys:
            present = self.lake.handler.existing_keys(self.lake.bucket, keys.values(), threshold=2)
            for earlier_day, key in keys.items():
                self._frames[earlier_day] = (read_parquet(self.lake.handler.get_bytes(self.lake.bucket, key),
                                                          self.lake.uri(key)) if key in present else None)
        return [(earlier_day, frame) for earlier_day in earlier if (frame := self._frames[earlier_day]) is not None]

    def add(self, day: date, frame: pl.DataFrame) -> None:
        """Remember ``day``'s partition as just curated."""
        self._frames[day] = frame


def curate(spec: DatasetSpec, day: date, lake: Store, curated_from: str | None = None,
           history: History | None = None) -> CurateResult | None:
    """Parse the raw file of ``day``, check it, and unless an error-severity check failed write the Parquet
    partition (warnings are reported in the outcomes, and the partition written).

    The checks against earlier days read them from ``history`` (one is made when None). The partition
    records the vendor ETag it was curated from (``source-etag`` metadata). When that ETag is
    ``curated_from`` (a retried run whose earlier attempt curated this file) and the curated object
    still records it, nothing is done and None is returned: a retry does not curate the same file twice.

    Raises:
        CurationError: the file is unreadable, or a blocking check failed (:class:`ChecksFailedError`);
            the curated partition is untouched.
    """
    raw_key = spec.raw.key(day)
    source_etag = lake.handler.info(lake.bucket, raw_key).metadata.get(SOURCE_ETAG, "")
    if curated_from is not None and source_etag == curated_from == _curated_from(spec, day, lake):
        return None
    where = f"{spec.name} partition {partition_key(day)} ({lake.uri(raw_key)})"
    kept = "; the curated partition was left as it was"
    try:
        vendor = parse_vendor_file(spec, lake.handler.get_bytes(lake.bucket, raw_key), where)
    except CurationError as exc:
        raise CurationError(f"{exc}{kept}") from exc
    history = history or History(spec, lake)
    outcomes = check_partition(Subject(spec, day, vendor.frame, vendor.extra_columns, history.before(day)))
    blocking = [outcome for outcome in outcomes if outcome.blocks]
    if blocking:
        raise ChecksFailedError(f"{where}: failed check(s) " + "; ".join(f"{o.name}: {o.detail}" for o in blocking)
                                + kept, outcomes)
    data = to_parquet(vendor.frame)
    key = spec.curated.key(day)
    lake.handler.put_bytes(lake.bucket, key, data, overwrite=True, content_type="application/vnd.apache.parquet",
                           metadata={SOURCE_ETAG: source_etag})
    history.add(day, vendor.frame)
    return CurateResult(key, vendor.frame.height, len(data),
                        {name: str(dtype) for name, dtype in vendor.frame.schema.items()}, outcomes, source_etag)


def mirrored_etag(spec: DatasetSpec, day: date, lake: Store) -> str | None:
    """The vendor ETag the raw zone's copy of ``day`` was made from, or None if there is no copy."""
    info = lake.handler.find(lake.bucket, spec.raw.key(day))
    return info.metadata.get(SOURCE_ETAG) if info else None


def _curated_from(spec: DatasetSpec, day: date, lake: Store) -> str | None:
    """The vendor ETag the curated partition of ``day`` records, or None if it does not exist."""
    info = lake.handler.find(lake.bucket, spec.curated.key(day))
    return info.metadata.get(SOURCE_ETAG) if info else None


def read_parquet(data: bytes, where: str) -> pl.DataFrame:
    """Parse a curated Parquet object.

    Raises:
        CurationError: the bytes are not a readable Parquet file (truncated, overwritten); names ``where``.
    """
    try:
        return pl.read_parquet(io.BytesIO(data))
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise CurationError(f"{where} is not a readable Parquet file ({exc})") from exc


def roll_up_month(spec: DatasetSpec, year: int, month: int, lake: Store) -> tuple[str, pl.DataFrame, int]:
    """Summarise the curated partitions of one month (to date, for the month in progress), read from its
    Hive prefix; return the summary's key, the summary and how many days it read."""
    keys = [info.key for info in lake.handler.iter_objects(lake.bucket, spec.curated.month_prefix(year, month))
            if info.key.endswith("/" + spec.curated.filename)]
    frames = [read_parquet(lake.handler.get_bytes(lake.bucket, key), lake.uri(key)) for key in keys]
    month_rows = pl.concat(frames) if frames else pl.DataFrame(schema={**spec.schema, "date": pl.Date()})
    summary = spec.rollup(month_rows.lazy()).collect()
    key = spec.rollup_key(year, month)
    lake.handler.put_bytes(lake.bucket, key, to_parquet(summary), overwrite=True,
                           content_type="application/vnd.apache.parquet")
    return key, summary, len(keys)
