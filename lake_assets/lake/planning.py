"""What a missing-partition sensor tick should request: a pure function of two sorted listings.

Vendor keys and lake keys are both date-ordered, so a tick lists what is new after its cursor and costs
O(new keys), not O(history); besides, it re-reads one window of the history (:mod:`lake_assets.lake.sweep`),
which finds lake partitions that were deleted, vendor files that were corrected (a source object newer than
its curated partition) and curated objects altered outside the lake's runs (newer than Dagster's record of
them: :func:`altered`). Contiguous partitions needing work
become range runs of at most ``chunk`` partitions; a tick requests at most ``cap`` partitions and
resumes after the last one it requested.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from lake_assets.lake.coverage import LACKING, by_partition, day_verdict
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.layout import LayoutError, partition_key
from lake_assets.s3 import ObjectInfo

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanCursor:
    """Where the next tick starts: after ``after`` (a source key; for the rollup sensor, the storage id of the
    curated asset's newest record); ``full_at`` is when the last full pass (for the missing-partition sensor, the
    current sweep of the history: :mod:`lake_assets.lake.sweep`) began. ``sweep`` is the source key the sweep's
    next window starts after (None: a new sweep, from the start), ``since`` when the sweep before began."""

    after: str | None = None
    full_at: float = 0.0
    sweep: str | None = None
    since: float = 0.0

    def to_json(self) -> str:
        """Serialise for ``SensorResult(cursor=...)``."""
        return json.dumps({"after": self.after, "full_at": self.full_at, "sweep": self.sweep, "since": self.since})

    @classmethod
    def from_json(cls, text: str | None) -> PlanCursor:
        """Parse a stored cursor; a missing or unreadable one starts afresh (a full pass)."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            return cls(after=data.get("after"), full_at=float(data.get("full_at", 0.0)), sweep=data.get("sweep"),
                       since=float(data.get("since", 0.0)))
        except (ValueError, TypeError, AttributeError):
            logger.warning("unreadable sensor cursor %r; starting a full pass", text)
            return cls()


@dataclass(frozen=True)
class PartitionRun:
    """One run to request: a contiguous range of partitions and the source ETags it will read."""

    dataset: str
    keys: tuple[str, ...]
    etags: tuple[str, ...]

    @property
    def start(self) -> str:
        """First partition key of the range."""
        return self.keys[0]

    @property
    def end(self) -> str:
        """Last partition key of the range."""
        return self.keys[-1]

    @property
    def run_key(self) -> str:
        """Stable for the same partitions and source objects: a repeated tick requests nothing new,
        a corrected vendor file (new ETag) requests its partition again."""
        digest = hashlib.sha256("\n".join(f"{k}={e}" for k, e in zip(self.keys, self.etags, strict=True))
                                .encode()).hexdigest()[:16]
        return f"{self.dataset}:{self.start}..{self.end}:{digest}"


@dataclass(frozen=True)
class Plan:
    """The outcome of one tick's planning."""

    runs: list[PartitionRun]
    cursor: PlanCursor
    full_pass: bool
    source_seen: int
    off_calendar: list[str] = field(default_factory=list)
    capped: bool = False
    last_seen: str | None = None  # the last source key planned over (before the cap, when capped)

    @property
    def partitions(self) -> int:
        """Number of partitions requested."""
        return sum(len(run.keys) for run in self.runs)


def starts_full_pass(cursor: PlanCursor, now: float, full_interval: float) -> bool:
    """Return whether this tick lists from the beginning instead of after the cursor."""
    return cursor.after is None or now - cursor.full_at >= full_interval


#: The source ETag a closed day's request is planned with (it has no file).
CLOSED = "closed"
#: Seconds a curated object may be newer than Dagster's record of it before it counts as altered outside the
#: lake's runs (the record is written after the upload; clocks of the S3 server and Dagster may differ a little).
ALTERED_SLACK_SECONDS = 60.0


def written_since(spec: DatasetSpec, lake: Iterable[ObjectInfo], since: float) -> dict[str, ObjectInfo]:
    """The curated objects, by partition, last written at or after ``since`` (a POSIX time): the lake's own runs
    since then, and anything else that wrote into the curated zone."""
    return {key: info for key, info in by_partition(lake, spec.curated.date_of).items()
            if info.last_modified.timestamp() >= since}


def altered(written: Mapping[str, ObjectInfo], recorded_at: Mapping[str, float],
            slack: float | None = None) -> dict[str, str]:
    """The partitions among ``written`` whose object is newer than Dagster's latest record of the partition
    (``recorded_at``, POSIX times) by more than ``slack``: altered outside the lake's runs (a run records a day
    after writing it). Returns each one's object ETag, which its request is planned with, so a day altered
    again is requested again. A partition Dagster has never recorded is not judged here. ``slack`` defaults to
    :data:`ALTERED_SLACK_SECONDS`."""
    margin = ALTERED_SLACK_SECONDS if slack is None else slack
    return {key: f"altered:{info.etag}" for key, info in written.items()
            if key in recorded_at and info.last_modified.timestamp() > recorded_at[key] + margin}


def plan_tick(spec: DatasetSpec, partition_keys: Sequence[str], source: Iterable[ObjectInfo],
              lake: Iterable[ObjectInfo], cursor: PlanCursor, now: float, full_interval: float,
              cap: int, closed: Iterable[str] = (), redo: Mapping[str, str] | None = None,
              busy: Collection[str] = (), quarantined: Iterable[ObjectInfo] = (),
              given_up: Collection[str] = ()) -> Plan:
    """Decide which partitions to request from the source and lake (curated) listings of this tick.

    ``source`` and ``lake`` must cover the same days, in key order: from the start on a full pass, else
    after ``cursor.after`` and after the curated key of that key's date, which a window of the history before
    the cursor may precede (:mod:`lake_assets.lake.sweep`; the cursor never moves back). A vendor file dated
    on a day that is not a partition is reported in ``off_calendar``; one dated after the last
    partition (not yet due) stops the pass so it is picked up when its partition exists. ``closed`` are
    days the calendar closes that Dagster has not recorded yet: those up to the newest vendor file seen
    are requested with their neighbours (a range run records them as closed), never past the vendor's
    newest file, so a holiday the vendor has not reached yet waits with the days around it. ``redo`` are
    curated partitions to make again whatever the listings say (an object altered outside the lake's runs),
    each with the ETag its request is planned with. ``busy`` are partitions that unfinished runs are working on:
    they are not requested again (a queued range would otherwise be requested anew on every full pass, cut
    differently, and run twice) and do not count against ``cap``. ``quarantined`` lists the quarantine zone: a day
    whose current vendor file waits there is not requested again; nor is a day in ``given_up`` (the healing gave up
    on its current file): :func:`~lake_assets.lake.coverage.day_verdict` decides. The closed days a tick requests
    count against ``cap``: a cap of two chunks is two full range runs, not two and a run of the holidays among
    them.
    """
    full = starts_full_pass(cursor, now, full_interval)
    index = {key: position for position, key in enumerate(partition_keys)}
    lake_by_key = by_partition(lake, spec.curated.date_of)  # markers and stray files are not ours to judge
    held = by_partition(quarantined, spec.quarantine.date_of)
    needed: list[tuple[str, ObjectInfo | None]] = []
    off_calendar: list[str] = []
    after, seen, capped, last_seen = cursor.after if not full else None, 0, False, None
    last_key = partition_keys[-1] if partition_keys else None
    left_alone = {*busy, *given_up}
    closed_days = sorted(key for key in closed if key not in left_alone)  # requested with the days around them
    for info in source:
        try:
            key = partition_key(spec.source.date_of(info.key))
        except LayoutError:
            continue  # a vendor file outside the template (a readme, another product)
        if last_key is None or key > last_key:
            break  # not due yet: leave the cursor before it
        seen += 1
        if key not in index:
            off_calendar.append(info.key)
        elif key not in busy:
            if day_verdict(info, lake_by_key.get(key), held.get(key), key in given_up) in LACKING:
                if len(needed) + bisect.bisect_right(closed_days, key) >= cap:
                    capped = True
                    break
                needed.append((key, info))
        last_seen = info.key
        after = info.key if after is None or info.key > after else after  # a sweep's window comes before the cursor
    next_cursor = PlanCursor(after=after, full_at=now if full else cursor.full_at)
    until = last_seen if capped else after  # a capped tick requests no holiday past where it stopped
    through = partition_key(spec.source.date_of(until)) if until else ""
    days = {key for key in closed_days if key <= through}
    planned = {key for key, _ in needed}
    extra = {key: etag for key, etag in (redo or {}).items()
             if key in index and key not in {*planned, *days, *left_alone}}
    needed = sorted([*needed, *((key, None) for key in (days - planned) | set(extra))], key=lambda item: item[0])
    return Plan(runs=ranges(spec, needed, index, extra), cursor=next_cursor, full_pass=full, source_seen=seen,
                off_calendar=off_calendar, capped=capped, last_seen=last_seen)


def ranges(spec: DatasetSpec, needed: Sequence[tuple[str, ObjectInfo | None]],
           index: dict[str, int], planned_as: Mapping[str, str] | None = None) -> list[PartitionRun]:
    """Group partitions that are neighbours in the partition order into runs of at most ``spec.chunk``; a
    partition without a source object is planned with its ETag in ``planned_as``, else as a closed day
    (:data:`CLOSED`)."""
    etags = {key: info.etag if info else (planned_as or {}).get(key, CLOSED) for key, info in needed}
    return [PartitionRun(spec.name, run, tuple(etags[key] for key in run))
            for run in contiguous([key for key, _ in needed], index, spec.chunk)]


def contiguous(keys: Sequence[str], index: Mapping[str, int], most: int | None) -> list[tuple[str, ...]]:
    """Split ``keys`` (in partition order) into runs of neighbours in ``index``'s order, each at most ``most``
    long (no bound when None): the ranges a range run can cover."""
    runs: list[tuple[str, ...]] = []
    run: list[str] = []
    for key in keys:
        if run and (index[key] != index[run[-1]] + 1 or len(run) == most):
            runs.append(tuple(run))
            run = []
        run.append(key)
    if run:
        runs.append(tuple(run))
    return runs


def plan_rechecks(spec: DatasetSpec, partition_keys: Sequence[str], failed: Iterable[str],
                  source_info: Callable[[str], ObjectInfo | None],
                  mirrored_etag: Callable[[str], str | None]) -> list[PartitionRun]:
    """Request again the partitions whose run failed on a vendor file the vendor has corrected since.

    ``failed`` are partitions whose last run failed after their file was mirrored; ``mirrored_etag``
    gives the vendor ETag the raw zone holds for one (None if nothing was mirrored: that failure is
    healing's to retry), ``source_info`` the vendor's object now (None if it has none). A correction
    of a file behind the sensor's cursor is so curated within a tick, not at the next full pass.
    """
    needed = [(key, info) for key in sorted(failed)
              if (mirrored := mirrored_etag(key)) is not None and (info := source_info(key)) is not None
              and info.etag != mirrored]
    return ranges(spec, needed, {key: position for position, key in enumerate(partition_keys)})


def plan_reconciliations(failed: Iterable[str], source_info: Callable[[str], ObjectInfo | None],
                         curated_etag: Callable[[str], str | None]) -> list[str]:
    """The partitions whose last run failed although the lake holds them curated from the vendor's current file.

    ``failed`` are partitions Dagster shows failed (a manual run on a wrong setting, a backfill, a sensor's run);
    ``curated_etag`` gives the vendor ETag a partition's curated object records, where Dagster's latest record
    of the partition names the same (None otherwise), ``source_info`` the vendor's object now. For these S3
    and Dagster's last record already hold the truth: Dagster is told again rather than the day curated again.
    """
    return sorted(key for key in failed
                  if (etag := curated_etag(key)) is not None and (info := source_info(key)) is not None
                  and info.etag == etag)


def plan_rollups(spec: DatasetSpec, curated: Iterable[ObjectInfo], rollups: Iterable[ObjectInfo],
                 month_keys: Sequence[str]) -> list[PartitionRun]:
    """Return the months whose summary is missing or older than one of their curated days, as range runs of at
    most ``spec.chunk`` neighbouring months among ``month_keys`` (the monthly partitions; others are left out).

    Derived from the lake alone, so a month whose curated days changed while nothing rolled it up
    (a killed run, the sensor switched off) is found again. Each request's run key covers its months' curated
    ETags: a month whose days change again is a new request, a repeated tick is not. Ranges, because each run
    under the daemon is a process start (seconds) and a month's summary takes a fraction of one.
    """
    days: dict[str, list[ObjectInfo]] = {}
    for key, info in sorted(by_partition(curated, spec.curated.date_of).items()):
        days.setdefault(key[:8] + "01", []).append(info)
    summaries = {month: info for info in rollups if (month := spec.rollup_month(info.key))}
    index = {key: position for position, key in enumerate(month_keys)}
    digests = {month: _month_digest(infos) for month, infos in sorted(days.items())
               if month in index and (month not in summaries
                                      or any(summaries[month].last_modified < info.last_modified for info in infos))}
    return [PartitionRun(f"{spec.name}.monthly", run, tuple(digests[month] for month in run))
            for run in contiguous(list(digests), index, spec.chunk)]


def _month_digest(days: Iterable[ObjectInfo]) -> str:
    """A short digest of a month's curated days and their ETags."""
    return hashlib.sha256("\n".join(f"{info.key}={info.etag}" for info in days).encode()).hexdigest()[:16]
