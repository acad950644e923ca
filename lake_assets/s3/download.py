"""Download one object atomically: ranged GETs into a temporary file beside the target, then a rename."""

from __future__ import annotations

import logging
import os
import random
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from lake_assets.s3.client import ClientSource, ClientUser
from lake_assets.s3.config import S3TransferConfig
from lake_assets.s3.errors import CorruptObjectError
from lake_assets.s3.stats import TransferStatistics
from lake_assets.s3.translate import STREAM_ERRORS, http_status

logger = logging.getLogger(__name__)

#: Bytes read from a response body at a time.
READ_CHUNK = 1024 * 1024
#: Suffix of the temporary file a download writes before it is renamed onto its target.
PART_SUFFIX = ".lake-part"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphaned_parts(directory: Path) -> list[Path]:
    """Remove the temporary files that killed downloads left in ``directory``.

    A temporary file is named ``.<name>.<pid>.<random>.lake-part``; it is removed only when process
    ``pid`` no longer exists on this host, so a download still running elsewhere keeps its file.
    A batch calls this once per directory, not once per file.
    """
    removed: list[Path] = []
    for candidate in directory.glob(f".*{PART_SUFFIX}"):
        pid = candidate.name[:-len(PART_SUFFIX)].rsplit(".", 2)[-2]
        if pid.isdigit() and not _alive(int(pid)):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
            logger.info("removed %s, left by a killed download (pid %s)", candidate, pid)
    return removed


def part_file_name(path: Path) -> str:
    """Return a fresh temporary name beside ``path`` for a writer that creates the file itself."""
    return str(path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}{PART_SUFFIX}")


def new_part_file(path: Path) -> str:
    """Create and return the temporary file a download of ``path`` writes before its rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=PART_SUFFIX)
    os.close(fd)
    return name


def commit_part_file(fd: int, tmp_name: str, path: Path, size: int, bucket: str, key: str) -> None:
    """Flush ``fd`` to disk, check that ``tmp_name`` holds ``size`` bytes, and rename it onto ``path``.

    Raises:
        CorruptObjectError: fewer or more bytes arrived than the object has.
    """
    os.fsync(fd)
    written = os.fstat(fd).st_size
    if written != size:
        raise CorruptObjectError(f"s3://{bucket}/{key}: got {written} of {size} bytes",
                                 bucket=bucket, key=key, operation="GetObject")
    os.replace(tmp_name, path)


def backoff(attempt: int) -> float:
    """Seconds to wait before re-issue ``attempt`` (1-based): exponential with full jitter, capped."""
    return random.uniform(0, min(0.1 * 2 ** attempt, 5.0))


def total_size(response: dict[str, Any]) -> int:
    """Return the full object size from a (possibly ranged) GET response."""
    content_range = response.get("ContentRange")
    if content_range:
        return int(content_range.rsplit("/", 1)[1])
    return int(response["ContentLength"])


@contextmanager
def _removed_on_failure(tmp_name: str) -> Iterator[int]:
    """Open ``tmp_name`` for writing; on any failure close and remove it, so no partial file stays."""
    fd = os.open(tmp_name, os.O_WRONLY)
    try:
        yield fd
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


class FileDownloader(ClientUser):
    """Downloads objects through one shared client; large objects fetch their ranges on ``part_executor``.

    The first request is a GET of the first part's range, which also tells the object's size and
    ETag: a small object costs exactly one request and no HEAD. The remaining ranges are fetched
    with ``If-Match`` on that ETag, so an object replaced mid-download fails instead of mixing two
    versions. Bytes go to a temporary file beside the target, which is renamed onto it only when
    every byte is there; on any failure the temporary file is removed and the target is untouched.
    Temporary files left by killed processes are removed by the handler, once per target directory
    and batch (:func:`remove_orphaned_parts`).
    """

    def __init__(self, client: ClientSource, config: S3TransferConfig, part_executor: Executor,
                 stats: TransferStatistics) -> None:
        self._client_source = client
        self._config = config
        self._parts = part_executor
        self._stats = stats

    def download(self, bucket: str, key: str, path: Path, on_bytes: Callable[[int], None],
                 on_size: Callable[[int], None]) -> None:
        """Download ``key`` to ``path``, replacing it atomically."""
        tmp_name = new_part_file(path)
        with _removed_on_failure(tmp_name) as fd:
            chunk = self._config.multipart_chunksize
            first = self._first_get(bucket, key, chunk)
            size = total_size(first)
            on_size(size)
            etag = first["ETag"]
            first_end = min(chunk, size) - 1
            self._write_body(fd, first, 0, first_end, bucket, key, etag, on_bytes)
            self._fetch_ranges(fd, bucket, key, first_end + 1, size, etag, on_bytes)
            commit_part_file(fd, tmp_name, path, size, bucket, key)

    def _fetch_ranges(self, fd: int, bucket: str, key: str, start: int, size: int, etag: str,
                      on_bytes: Callable[[int], None]) -> None:
        """Fetch bytes ``start..size`` in parts on the part executor, each with ``If-Match: etag``."""
        chunk = self._config.multipart_chunksize
        futures: list[Future[None]] = []
        try:
            for offset in range(start, size, chunk):
                end = min(offset + chunk, size) - 1
                futures.append(self._parts.submit(self._get_range, fd, bucket, key, offset, end, etag,
                                                  on_bytes))
            for future in futures:
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    def _first_get(self, bucket: str, key: str, chunk: int) -> dict[str, Any]:
        try:
            return self._client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{chunk - 1}")
        except ClientError as exc:
            if http_status(exc) != 416:
                raise
        # An empty object has no byte 0 to range over; fetch it whole.
        return self._client.get_object(Bucket=bucket, Key=key)

    def _get_range(self, fd: int, bucket: str, key: str, start: int, end: int, etag: str,
                   on_bytes: Callable[[int], None]) -> None:
        response = self._client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}",
                                           IfMatch=etag)
        self._write_body(fd, response, start, end, bucket, key, etag, on_bytes)

    def _write_body(self, fd: int, response: dict[str, Any], start: int, end: int, bucket: str,
                    key: str, etag: str, on_bytes: Callable[[int], None]) -> None:
        """Write bytes ``start..end`` from ``response``; if the stream breaks, re-request the rest."""
        offset = start
        attempt = 0
        while True:
            try:
                for data in response["Body"].iter_chunks(READ_CHUNK):
                    os.pwrite(fd, data, offset)
                    offset += len(data)
                    on_bytes(len(data))
                if offset >= end + 1:
                    return
                raise CorruptObjectError(f"s3://{bucket}/{key}: body ended at byte {offset}, "
                                         f"expected {end + 1}", bucket=bucket, key=key,
                                         operation="GetObject")
            except STREAM_ERRORS as exc:
                if offset >= end + 1:
                    return  # every byte arrived before the connection dropped
                attempt += 1
                if attempt > self._config.retry_attempts:
                    raise
                self._stats.add("stream_retries")
                logger.debug("s3://%s/%s: stream broke at byte %d (%s); retry %d", bucket, key, offset,
                             exc, attempt)
                time.sleep(backoff(attempt))
                response = self._client.get_object(Bucket=bucket, Key=key,
                                                   Range=f"bytes={offset}-{end}", IfMatch=etag)
