"""One partition's work, without Dagster: mirror the vendor file into the raw zone, curate it, roll a month up.

Each function takes open handlers and returns what it did, so the Dagster assets stay declarative
and these steps are testable on their own.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from lake_assets.lake.calendars import publishing_days
from lake_assets.lake.checks import CheckOutcome, Subject, check_partition, declared_tallies
from lake_assets.lake.curation import CurationError, VendorFile, parse_vendor_file, read_parquet_file, to_parquet
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.layout import partition_key
from lake_assets.lake.queries import height
from lake_assets.s3 import ObjectInfo, ObjectNotFoundError, S3Handler, S3ObjectRef

#: User-metadata key on a raw copy naming the ETag of the vendor object it was made from.
SOURCE_ETAG = "source-etag"
#: Earlier publishing days the history checks compare a partition with, and how far back to look for them.
HISTORY_DAYS, HISTORY_SPAN = 5, timedelta(days=14)
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
    ``days`` publishing days back, as local Parquet files in ``workdir``.

    Each is downloaded once per run (a range run curates day after day, and the day just curated is the
    next one's history). A range run curates a few partitions at a time, in threads, in ascending order;
    a day's comparison waits until the earlier days of the run it compares with (``planned``) are
    settled, curated or refused, so it sees the same earlier days as when curated alone: the day just
    curated, or the last good copy in the lake when that day was refused. Once a day is done, the files
    older than any day still to come compares with are deleted, so a run keeps about two weeks of files,
    never its whole range.
    """

    def __init__(self, spec: DatasetSpec, lake: Store, workdir: Path, days: int = HISTORY_DAYS,
                 planned: Iterable[date] = ()) -> None:
        self.spec, self.lake, self.days = spec, lake, days
        self.workdir = workdir / "history"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._files: dict[date, Path | None] = {}
        self._stale: list[tuple[date, Path]] = []
        self._busy: Counter[date] = Counter()
        self._lock = threading.Lock()
        self._pending = set(planned)
        self._settled = threading.Condition(self._lock)

    @contextmanager
    def curating(self, day: date) -> Iterator[Path]:
        """Mark ``day`` in progress and yield where its partition is parsed to (kept as history by :meth:`add`);
        on leaving, ``day`` is settled, curated or not, for the later days waiting to compare with it."""
        with self._lock:
            self._busy[day] += 1
        try:
            yield self.workdir / f"{partition_key(day)}.curated.parquet"  # not the name of a downloaded day
        finally:
            with self._lock:
                self._busy -= Counter({day: 1})
                self._pending.discard(day)
                self._settled.notify_all()
                self._forget(min(self._busy, default=day) - HISTORY_SPAN)

    def before(self, day: date) -> list[tuple[date, pl.LazyFrame]]:
        """The curated partitions of the publishing days before ``day`` that are in the lake, oldest first.

        Raises:
            CurationError: an earlier curated partition is not a readable Parquet file.
        """
        earlier = publishing_days(self.spec.calendar, day - HISTORY_SPAN, day - timedelta(days=1))[-self.days:]
        with self._lock:
            self._settled.wait_for(lambda: self._pending.isdisjoint(earlier))
            keys = {earlier_day: self.spec.curated.key(earlier_day) for earlier_day in earlier
                    if earlier_day not in self._files}
            if keys:
                self._download(keys)
            files = [(earlier_day, path) for earlier_day in earlier if (path := self._files[earlier_day]) is not None]
        return [(earlier_day, read_parquet_file(path, self.lake.uri(self.spec.curated.key(earlier_day))))
                for earlier_day, path in files]

    def add(self, day: date, path: Path) -> None:
        """Remember ``day``'s partition, just curated to the path :meth:`curating` gave."""
        with self._lock:  # a copy downloaded meanwhile as a later day's history may be in use: deleted later
            if (copy := self._files.get(day)) is not None and copy != path:
                self._stale.append((day, copy))
            self._files[day] = path

    def _download(self, keys: dict[date, str]) -> None:
        """Fetch the curated partitions of ``keys`` that exist; remember the others as absent."""
        present = self.lake.handler.existing_keys(self.lake.bucket, keys.values(), threshold=2)
        refs = {day: S3ObjectRef(key, self.workdir / f"{partition_key(day)}.parquet")
                for day, key in keys.items() if key in present}
        self.lake.handler.download_batch(self.lake.bucket, list(refs.values()), overwrite=True).raise_first_failure()
        self._files.update({day: refs[day].local_path if day in refs else None for day in keys})

    def _forget(self, before: date) -> None:
        """Delete the files of the days before ``before``."""
        for day in [day for day in self._files if day < before]:
            if (path := self._files.pop(day)) is not None:
                path.unlink(missing_ok=True)
        for day, path in [(day, path) for day, path in self._stale if day < before]:
            self._stale.remove((day, path))
            path.unlink(missing_ok=True)


def curate(spec: DatasetSpec, day: date, lake: Store, history: History,
           curated_from: str | None = None) -> CurateResult | None:
    """Parse the raw file of ``day``, check it, and unless an error-severity check failed write the Parquet
    partition (warnings are reported in the outcomes, and the partition written).

    The file is streamed: downloaded into ``history``'s working directory, parsed to a local Parquet file
    (the checks' row counts taken in the same pass) and checked there by streaming queries, then uploaded;
    it is never whole in memory. The checks against
    earlier days read them from ``history``. The partition records the vendor ETag it was curated from
    (``source-etag`` metadata). When that ETag is ``curated_from`` (a retried run whose earlier attempt
    curated this file) and the curated object still records it, nothing is done and None is returned: a
    retry does not curate the same file twice.

    Raises:
        CurationError: the file is unreadable, or a blocking check failed (:class:`ChecksFailedError`);
            the curated partition is untouched.
    """
    raw_key = spec.raw.key(day)
    with history.curating(day) as parsed:
        source_etag = lake.handler.info(lake.bucket, raw_key).metadata.get(SOURCE_ETAG, "")
        if curated_from is not None and source_etag == curated_from == _curated_from(spec, day, lake):
            return None
        where = f"{spec.name} partition {partition_key(day)} ({lake.uri(raw_key)})"
        vendor = _parse_raw(spec, day, lake, parsed, where)
        outcomes = check_partition(Subject(spec, day, vendor.scan(), vendor.extra_columns, history.before(day),
                                           vendor.tallies))
        blocking = [outcome for outcome in outcomes if outcome.blocks]
        if blocking:
            parsed.unlink()
            raise ChecksFailedError(f"{where}: failed check(s) " + "; ".join(f"{o.name}: {o.detail}" for o in blocking)
                                    + KEPT, outcomes)
        key = spec.curated.key(day)
        lake.handler.upload_batch(lake.bucket, [S3ObjectRef(key, parsed, {SOURCE_ETAG: source_etag})],
                                  overwrite=True).raise_first_failure()
        history.add(day, parsed)
    return CurateResult(key, height(vendor.scan()), parsed.stat().st_size,
                        {name: str(dtype) for name, dtype in vendor.scan().collect_schema().items()}, outcomes,
                        source_etag)


def _parse_raw(spec: DatasetSpec, day: date, lake: Store, parsed: Path, where: str) -> VendorFile:
    """Download the raw file of ``day`` next to ``parsed`` and parse it there; the download is deleted after.

    Raises:
        CurationError: the file cannot be parsed; the message says the curated partition was kept.
    """
    raw = parsed.with_suffix(".raw")
    try:
        lake.handler.download_batch(lake.bucket, [S3ObjectRef(spec.raw.key(day), raw)],
                                    overwrite=True).raise_first_failure()
        return parse_vendor_file(spec, raw, parsed, where, declared_tallies(spec, day))
    except CurationError as exc:
        raise CurationError(f"{exc}{KEPT}") from exc
    finally:
        raw.unlink(missing_ok=True)


def mirrored_etag(spec: DatasetSpec, day: date, lake: Store) -> str | None:
    """The vendor ETag the raw zone's copy of ``day`` was made from, or None if there is no copy."""
    info = lake.handler.find(lake.bucket, spec.raw.key(day))
    return info.metadata.get(SOURCE_ETAG) if info else None


def _curated_from(spec: DatasetSpec, day: date, lake: Store) -> str | None:
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
