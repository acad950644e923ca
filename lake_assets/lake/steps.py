"""One partition's work, without Dagster: mirror the vendor file into the raw zone, curate it, roll a month up.

Each function takes open handlers and returns what it did, so the Dagster assets stay declarative
and these steps are testable on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from lake_assets.lake.checks import CheckOutcome, Subject, check_partition, declared_tallies
from lake_assets.lake.curation import CurationError, VendorFile, parse_vendor_file, read_parquet_file, to_parquet
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.day_facts import ClosedDay, Quarantined, closed_day
from lake_assets.lake.layout import partition_key
from lake_assets.lake.queries import height
from lake_assets.s3 import ObjectInfo, ObjectNotFoundError, S3Handler, S3ObjectRef

if TYPE_CHECKING:
    from lake_assets.lake.history import History

#: User-metadata key on a raw copy naming the ETag of the vendor object it was made from.
SOURCE_ETAG = "source-etag"
#: How a curation error ends: nothing was written.
KEPT = "; the curated partition was left as it was"


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
    outcomes: list[CheckOutcome]
    source_etag: str


def mirror_raw(spec: DatasetSpec, day: date, vendor: Store, lake: Store, server_side: bool,
               workdir: Path) -> MirrorResult | ClosedDay:
    """Make the lake hold the vendor's current file for ``day``, byte for byte, encrypted: in the raw zone, or,
    when the raw copy is the one the curated partition was made from, in quarantine beside it, so that a
    vendor correction that fails curation never replaces the last good file (:func:`curate` promotes it
    into the raw zone once it curates).

    Skips the transfer when the copy was made from the source's current ETag (recorded in the
    copy's ``source-etag`` metadata; timestamps are only second-accurate). With ``server_side`` the
    bytes never leave the server (CopyObject, pinned to the source's ETag, so a file replaced
    mid-copy fails instead of landing half-old); else they go through ``workdir``.

    A day the calendar closes on which the vendor published nothing is returned as a :class:`ClosedDay`; a
    file the vendor did publish on such a day is mirrored like any other.

    Raises:
        NotPublishedError: the vendor has no file for ``day``, a day its calendar publishes.
        S3Error: the transfer failed; nothing partial is left in the raw zone.
    """
    source_key = spec.source.key(day)
    raw_key = spec.raw.key(day)
    try:
        source = vendor.handler.info(vendor.bucket, source_key)
    except ObjectNotFoundError as exc:
        if closed := closed_day(spec, day):
            return closed
        raise NotPublishedError(f"{spec.name} {partition_key(day)}: {vendor.uri(source_key)} is not published") from exc
    existing = lake.handler.find(lake.bucket, raw_key)
    if existing is not None and existing.metadata.get(SOURCE_ETAG) == source.etag:
        _release(spec, day, lake)  # the vendor is back to the good file: nothing waits in quarantine
        return MirrorResult(source, raw_key, "up to date")
    target = raw_key
    if existing is not None and existing.metadata.get(SOURCE_ETAG) == curated_etag(spec, day, lake):
        target = spec.quarantine.key(day)
        staged = lake.handler.find(lake.bucket, target)
        if staged is not None and staged.metadata.get(SOURCE_ETAG) == source.etag:
            return MirrorResult(source, target, "up to date")
        _release(spec, day, lake)
    provenance = {SOURCE_ETAG: source.etag, "source-key": source_key}
    if server_side:
        lake.handler.copy_object(vendor.bucket, source_key, lake.bucket, target, overwrite=True,
                                 source_etag=source.etag, metadata=provenance)
        return MirrorResult(source, target, "copied")
    local = workdir / f"{spec.name}-{partition_key(day)}{Path(source_key).suffix}"
    vendor.handler.download_batch(vendor.bucket, [S3ObjectRef(source_key, local)], overwrite=True).raise_first_failure()
    lake.handler.upload_batch(lake.bucket, [S3ObjectRef(target, local, provenance)],
                              overwrite=True).raise_first_failure()
    return MirrorResult(source, target, "transferred")


def _release(spec: DatasetSpec, day: date, lake: Store) -> None:
    """Delete ``day``'s quarantined vendor file and its reason, if any."""
    lake.handler.delete_objects(lake.bucket, [spec.quarantine.key(day), spec.quarantine_reason.key(day)])


def curate(spec: DatasetSpec, day: date, lake: Store, history: History,
           curated_from: str | None = None) -> CurateResult | ClosedDay | Quarantined | None:
    """Parse the raw file of ``day``, check it, and unless an error-severity check failed write the Parquet
    partition (warnings are reported in the outcomes, and the partition written).

    The file is the quarantined one when there is one (a vendor correction that would replace the raw
    copy the partition was curated from): once it curates, it is promoted into the raw zone; when it
    does not, it stays in quarantine with the reason beside it, the raw zone keeps the good file, and the
    day is returned as :class:`Quarantined` (the lake still serves it).

    The file is streamed: downloaded into ``history``'s working directory, parsed to a local Parquet file
    (the checks' row counts taken in the same pass) and checked there by streaming queries, then uploaded;
    it is never whole in memory. The checks against
    earlier days read them from ``history``. The partition records the vendor ETag it was curated from
    (``source-etag`` metadata). When that ETag is ``curated_from`` (a retried run whose earlier attempt
    curated this file) and the curated object still records it, nothing is done and None is returned: a
    retry does not curate the same file twice. A day the calendar closes with no file mirrored is returned
    as a :class:`ClosedDay`.

    Raises:
        CurationError: the file is unreadable, or a blocking check failed (:class:`ChecksFailedError`), and
            the lake serves no partition of the day; the curated partition is untouched.
    """
    with history.curating(day) as parsed:
        staged = lake.handler.find(lake.bucket, spec.quarantine.key(day))
        if staged is None and (closed := closed_day(spec, day)) and not lake.handler.find(lake.bucket,
                                                                                          spec.raw.key(day)):
            return closed
        source = staged or lake.handler.info(lake.bucket, spec.raw.key(day))
        source_etag = source.metadata.get(SOURCE_ETAG, "")
        if curated_from is not None and source_etag == curated_from == curated_etag(spec, day, lake):
            return None
        where = f"{spec.name} partition {partition_key(day)} ({lake.uri(source.key)})"
        try:
            vendor = _parse_raw(spec, day, source.key, lake, parsed, where)
            outcomes = check_partition(Subject(spec, day, vendor.scan(), vendor.extra_columns, history.before(day),
                                               vendor.tallies))
            if blocking := [outcome for outcome in outcomes if outcome.blocks]:
                parsed.unlink()
                raise ChecksFailedError(f"{where}: failed check(s) "
                                        + "; ".join(f"{o.name}: {o.detail}" for o in blocking) + KEPT, outcomes)
        except CurationError as exc:
            if staged is None:
                raise
            lake.handler.put_bytes(lake.bucket, spec.quarantine_reason.key(day), f"{exc}\n".encode(),
                                   overwrite=True, content_type="text/plain")
            served = curated_etag(spec, day, lake)
            if served is None:  # the good partition is gone too: the day is not served
                raise
            return Quarantined(spec.curated.key(day), str(exc), source_etag, served)
        key = spec.curated.key(day)
        lake.handler.upload_batch(lake.bucket, [S3ObjectRef(key, parsed, {SOURCE_ETAG: source_etag})],
                                  overwrite=True).raise_first_failure()
        if staged is not None:
            lake.handler.copy_object(lake.bucket, staged.key, lake.bucket, spec.raw.key(day), overwrite=True,
                                     source_etag=staged.etag)
            _release(spec, day, lake)
        history.add(day, parsed)
        # measured while the day is still in progress: once settled, a thread on a later day may delete its file
        return CurateResult(key, height(vendor.scan()), parsed.stat().st_size, outcomes, source_etag)


def _parse_raw(spec: DatasetSpec, day: date, key: str, lake: Store, parsed: Path, where: str) -> VendorFile:
    """Download the vendor file of ``day`` at ``key`` next to ``parsed`` and parse it there; the download is deleted
    after.

    Raises:
        CurationError: the file cannot be parsed; the message says the curated partition was kept.
    """
    raw = parsed.with_suffix(".raw")
    try:
        lake.handler.download_batch(lake.bucket, [S3ObjectRef(key, raw)],
                                    overwrite=True).raise_first_failure()
        return parse_vendor_file(spec, raw, parsed, where, declared_tallies(spec, day))
    except CurationError as exc:
        raise CurationError(f"{exc}{KEPT}") from exc
    finally:
        raw.unlink(missing_ok=True)


def mirrored_etag(spec: DatasetSpec, day: date, lake: Store) -> str | None:
    """The vendor ETag the lake's newest copy of ``day`` was made from (the quarantined one, else the raw zone's),
    or None if there is no copy."""
    info = lake.handler.find(lake.bucket, spec.quarantine.key(day)) or lake.handler.find(lake.bucket,
                                                                                          spec.raw.key(day))
    return info.metadata.get(SOURCE_ETAG) if info else None


def curated_etag(spec: DatasetSpec, day: date, lake: Store) -> str | None:
    """The vendor ETag the curated partition of ``day`` records, or None if it does not exist."""
    info = lake.handler.find(lake.bucket, spec.curated.key(day))
    return info.metadata.get(SOURCE_ETAG) if info else None


def roll_up_month(spec: DatasetSpec, year: int, month: int, lake: Store,
                  workdir: Path) -> tuple[str, pl.DataFrame, int]:
    """Summarise the curated partitions of one month (to date, for the month in progress), read from its
    Hive prefix; return the summary's key, the summary and how many days it read.

    The days are downloaded into ``workdir`` and summarised by one streaming query over their files, so the
    month is never in memory at once (the summary, one row per ticker or node, is).

    Raises:
        CurationError: a curated day is not a readable Parquet file; names it.
    """
    keys = [info.key for info in lake.handler.iter_objects(lake.bucket, spec.curated.month_prefix(year, month))
            if info.key.endswith("/" + spec.curated.filename)]
    refs = [S3ObjectRef(key, workdir / f"{index:02d}.parquet") for index, key in enumerate(keys)]
    lake.handler.download_batch(lake.bucket, refs, overwrite=True).raise_first_failure()
    days = [read_parquet_file(ref.local_path, lake.uri(ref.key)) for ref in refs]
    month_rows = pl.concat(days) if days else pl.LazyFrame(schema={**spec.schema, "date": pl.Date()})
    try:
        summary = spec.rollup(month_rows).collect(engine="streaming")
    except pl.exceptions.PolarsError as exc:
        raise CurationError(f"{lake.uri(spec.curated.month_prefix(year, month))}: a curated day of the month is "
                            f"not readable ({exc})") from exc
    key = spec.rollup_key(year, month)
    lake.handler.put_bytes(lake.bucket, key, to_parquet(summary), overwrite=True,
                           content_type="application/vnd.apache.parquet")
    return key, summary, len(keys)
