"""Batches on the CRT engine: a window of requests in flight, retried and counted here, one per object.

Each object's outcome comes back as a :class:`~concurrent.futures.Future`, like the boto3 path's,
so the handler settles both engines the same way. A download whose object is larger than its first
range goes on in part-sized ranges through the same window, each one request, each carrying
``If-Match`` on the first response's ETag; multipart uploads stay on the boto3 path.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import logging
import os
import queue
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path

from awscrt.s3 import S3Request

from lake_assets.s3.config import S3TransferConfig
from lake_assets.s3.crt import CrtClient, CrtResponse, write_headers
from lake_assets.s3.download import FileDownloader, backoff, commit_part_file, part_file_name
from lake_assets.s3.errors import is_precondition_failure
from lake_assets.s3.refs import S3ObjectRef
from lake_assets.s3.stats import TransferStatistics
from lake_assets.s3.upload import FileUploader

logger = logging.getLogger(__name__)

Send = Callable[["Job", Callable[[CrtResponse], None]], S3Request]
#: Settles a final response; returns the follow-up jobs it creates (the later ranges of a download).
Settle = Callable[["Job", CrtResponse], "list[Job] | None"]


@dataclass(eq=False)
class Job:
    """One request's worth of an object: its reference, the future of its outcome, how often it was sent.

    A later range of a large download also carries its byte range and the object's shared state.
    """

    ref: S3ObjectRef
    outcome: Future[bool]
    size: int = 0
    attempts: int = 0
    part_file: str | None = None
    start: int = 0
    end: int = 0
    download: _LargeDownload | None = None


@dataclass(eq=False)
class _LargeDownload:
    """A download past its first range: the open temporary file and the ranges still to settle."""

    first: Job
    fd: int
    size: int
    etag: str
    pending: int
    error: Exception | None = None


class RequestWindow:
    """Keeps up to ``max_in_flight`` requests going; retries network errors and retryable statuses.

    Completions arrive on CRT threads and are handled here, on the calling thread, so settling an
    object (a rename, a hand-over to the boto3 path) never blocks the event loops.
    """

    def __init__(self, config: S3TransferConfig, stats: TransferStatistics, operation: str) -> None:
        self._config = config
        self._stats = stats
        self._operation = operation

    def run(self, jobs: list[Job], send: Send, settle: Settle) -> None:
        """Send every job, retrying up to ``retry_attempts`` times, and settle each final response."""
        done: queue.SimpleQueue[tuple[Job, CrtResponse]] = queue.SimpleQueue()
        ready = list(reversed(jobs))
        waiting: list[tuple[float, int, Job]] = []
        order = itertools.count()
        in_flight: dict[Job, S3Request] = {}
        try:
            while ready or waiting or in_flight:
                now = time.monotonic()
                while waiting and waiting[0][0] <= now:
                    ready.append(heapq.heappop(waiting)[2])
                while ready and len(in_flight) < self._config.max_in_flight:
                    job = ready.pop()
                    job.attempts += 1
                    self._stats.on_request(self._operation, retry=job.attempts > 1)
                    in_flight[job] = send(job, lambda response, job=job: done.put((job, response)))
                timeout = max(waiting[0][0] - now, 0.0) if waiting else None
                try:
                    job, response = done.get(timeout=timeout)
                except queue.Empty:
                    continue
                del in_flight[job]
                if not response.ok and response.retryable and job.attempts <= self._config.retry_attempts:
                    logger.debug("%s %s: %s; retry %d", self._operation, job.ref.key,
                                 response.status or response.error, job.attempts)
                    heapq.heappush(waiting, (time.monotonic() + backoff(job.attempts), next(order), job))
                    continue
                ready.extend(reversed(settle(job, response) or []))
        finally:
            for request in in_flight.values():
                request.cancel()
            for request in in_flight.values():
                request.finished_future.exception()


def upload_files(crt: CrtClient, uploader: FileUploader, config: S3TransferConfig, stats: TransferStatistics,
                 bucket: str, files: list[tuple[S3ObjectRef, int]], overwrite: bool,
                 on_bytes: Callable[[int], None]) -> list[tuple[S3ObjectRef, Future[bool]]]:
    """PUT each file (given with its size; one part at most) in one request; each future says if it wrote.

    A 412 means the key existed and the file was skipped, unless an earlier attempt of ours was
    the one that created it (its response lost): the object's ETag, the file's MD5, tells.
    """
    jobs = [Job(ref, Future(), size=size) for ref, size in files]

    def send(job: Job, on_done: Callable[[CrtResponse], None]) -> S3Request:
        headers = write_headers(config, overwrite, job.ref.metadata)
        return crt.put_file(bucket, job.ref.key, job.ref.local_path, job.size, headers, on_done)

    def settle(job: Job, response: CrtResponse) -> None:
        if response.ok:
            on_bytes(job.size)
            job.outcome.set_result(True)
            return
        error = response.as_exception(job.attempts)
        if not overwrite and is_precondition_failure(error):
            ours = uploader.landed_earlier(error, bucket, job.ref.key,
                                           lambda: hashlib.md5(job.ref.local_path.read_bytes()).hexdigest())
            if ours:
                on_bytes(job.size)
            job.outcome.set_result(ours)
            return
        job.outcome.set_exception(error)

    RequestWindow(config, stats, "PutObject").run(jobs, send, settle)
    return [(job.ref, job.outcome) for job in jobs]


def download_files(crt: CrtClient, downloader: FileDownloader, objects_pool: Executor, config: S3TransferConfig,
                   stats: TransferStatistics, bucket: str, refs: list[S3ObjectRef],
                   on_bytes: Callable[[int], None], on_size: Callable[[int], None],
                   ) -> list[tuple[S3ObjectRef, Future[bool]]]:
    """Download each object into a temporary file, renamed onto ``local_path`` only when complete.

    The directories of the targets must exist (the handler creates them once per batch).

    The first request is a GET of the first part's range, which also tells the size and ETag: a
    small object costs exactly one request. A larger one continues with part-sized ranges, each
    with ``If-Match`` on that ETag, so a replaced object fails instead of mixing two versions. An
    empty object (no byte 0 to range over) is fetched whole on the boto3 path.
    """
    chunk = config.multipart_chunksize
    jobs = [Job(ref, Future(), end=chunk - 1) for ref in refs]

    def send(job: Job, on_done: Callable[[CrtResponse], None]) -> S3Request:
        large = job.download
        if large is None:
            job.part_file = job.part_file or part_file_name(job.ref.local_path)
            return crt.get_range(bucket, job.ref.key, 0, job.end, on_done, path=Path(job.part_file))
        return crt.get_range(bucket, job.ref.key, job.start, job.end, on_done, if_match=large.etag,
                             on_body=lambda data, offset: os.pwrite(large.fd, data, offset))

    def settle(job: Job, response: CrtResponse) -> list[Job] | None:
        if job.download is not None:
            _settle_range(job, job.download, response, bucket, on_bytes)
            return None
        if not response.ok:
            _discard(job)
            if response.status == 416:
                job.outcome = objects_pool.submit(_whole, downloader, bucket, job.ref, on_bytes, on_size)
            else:
                job.outcome.set_exception(response.as_exception(job.attempts))
            return None
        try:
            size = int(response.headers["content-range"].rsplit("/", 1)[1])
            on_size(size)
            on_bytes(min(chunk, size))
            if size <= chunk:
                _commit(job, size, bucket)
                job.outcome.set_result(True)
                return None
            return _later_ranges(job, size, response.headers["etag"], chunk)
        except Exception as exc:  # a malformed response fails this object, not the batch
            _discard(job)
            job.outcome.set_exception(exc)
            return None

    RequestWindow(config, stats, "GetObject").run(jobs, send, settle)
    return [(job.ref, job.outcome) for job in jobs]


def _later_ranges(first: Job, size: int, etag: str, chunk: int) -> list[Job]:
    assert first.part_file is not None
    large = _LargeDownload(first, os.open(first.part_file, os.O_WRONLY), size, etag, pending=0)
    ranges = [Job(first.ref, first.outcome, start=start, end=min(start + chunk, size) - 1, download=large)
              for start in range(chunk, size, chunk)]
    large.pending = len(ranges)
    return ranges


def _settle_range(job: Job, large: _LargeDownload, response: CrtResponse, bucket: str,
                  on_bytes: Callable[[int], None]) -> None:
    """Account for one later range; when the last one settles, commit the file or remove it."""
    large.pending -= 1
    if response.ok:
        on_bytes(job.end - job.start + 1)
    elif large.error is None:
        large.error = response.as_exception(job.attempts)
    if large.pending:
        return
    first = large.first
    try:
        if large.error is not None:
            raise large.error
        assert first.part_file is not None
        commit_part_file(large.fd, first.part_file, first.ref.local_path, large.size, bucket, first.ref.key)
        first.outcome.set_result(True)
    except Exception as exc:  # this object failed; the batch goes on
        _discard(first)
        first.outcome.set_exception(exc)
    finally:
        os.close(large.fd)


def _commit(job: Job, size: int, bucket: str) -> None:
    assert job.part_file is not None
    fd = os.open(job.part_file, os.O_WRONLY)
    try:
        commit_part_file(fd, job.part_file, job.ref.local_path, size, bucket, job.ref.key)
    finally:
        os.close(fd)


def _discard(job: Job) -> None:
    if job.part_file is not None:
        Path(job.part_file).unlink(missing_ok=True)


def _whole(downloader: FileDownloader, bucket: str, ref: S3ObjectRef, on_bytes: Callable[[int], None],
           on_size: Callable[[int], None]) -> bool:
    downloader.download(bucket, ref.key, ref.local_path, on_bytes, on_size)
    return True
