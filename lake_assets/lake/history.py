"""The curated days before a day, for the checks that compare with earlier days, kept as local files. No Dagster."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from lake_assets.lake.calendars import publishing_days
from lake_assets.lake.curation import read_parquet_file
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.layout import partition_key
from lake_assets.lake.steps import Store
from lake_assets.s3 import S3ObjectRef

#: Earlier publishing days the history checks compare a partition with, and how far back to look for them.
HISTORY_DAYS, HISTORY_SPAN = 5, timedelta(days=14)


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
