"""Batches on the CRT engine: a window of requests in flight, retried and counted here, one per object.

Each object's outcome comes back as a :class:`~concurrent.futures.Future`, like the boto3 path's,
so the handler settles both engines the same way. Objects that need more than one request go on
to the boto3 path: a download whose object is larger than its first range resumes there.
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
from lake_assets.s3.download import FileDownloader, backoff, commit_part_file, new_part_file
from lake_assets.s3.refs import S3ObjectRef
from lake_assets.s3.stats import TransferStatistics
from lake_assets.s3.upload import FileUploader, is_precondition_failure

logger = logging.getLogger(__name__)

Send = Callable[["Job", Callable[[CrtResponse], None]], S3Request]
Settle = Callable[["Job", CrtResponse], None]


@dataclass(eq=False)
class Job:
    """One object of a batch: its reference, the future of its outcome, and how often it was sent."""

    ref: S3ObjectRef
    outcome: Future[bool]
    size: int = 0
    attempts: int = 0
    part_file: str | None = None


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
                settle(job, response)
        finally:
            for request in in_flight.values():
                request.cancel()
            for request in in_flight.values():
                request.finished_future.exception()


def upload_files(crt: CrtClient, uploader: FileUploader, config: S3TransferConfig, stats: TransferStatistics,
                 bucket: str, refs: list[S3ObjectRef], overwrite: bool,
                 on_bytes: Callable[[int], None]) -> list[tuple[S3ObjectRef, Future[bool]]]:
    """PUT each file (at most one part each) in one request; the future says whether it was written.

    A 412 means the key existed and the file was skipped, unless an earlier attempt of ours was
    the one that created it (its response lost): the object's ETag, the file's MD5, tells.
    """
    jobs = [Job(ref, Future(), size=ref.local_path.stat().st_size) for ref in refs]

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
    """GET each object's first range into a temporary file; small objects are then complete.

    A larger object resumes on the boto3 path with ``If-Match`` on the first response's ETag; an
    empty object (no byte 0 to range over) is fetched there whole. The rename onto ``local_path``
    happens only when every byte is there.
    """
    chunk = config.multipart_chunksize
    jobs = [Job(ref, Future()) for ref in refs]

    def send(job: Job, on_done: Callable[[CrtResponse], None]) -> S3Request:
        job.part_file = job.part_file or new_part_file(job.ref.local_path)
        return crt.get_range(bucket, job.ref.key, Path(job.part_file), chunk, on_done)

    def settle(job: Job, response: CrtResponse) -> None:
        if not response.ok:
            _discard(job)
            if response.status == 416:
                job.outcome = objects_pool.submit(_whole, downloader, bucket, job.ref, on_bytes, on_size)
            else:
                job.outcome.set_exception(response.as_exception(job.attempts))
            return
        try:
            size = int(response.headers["content-range"].rsplit("/", 1)[1])
            on_size(size)
            on_bytes(min(chunk, size))
            if size <= chunk:
                _commit(job, size, bucket)
                job.outcome.set_result(True)
                return
            job.outcome = objects_pool.submit(_resume, downloader, bucket, job, chunk, size,
                                              response.headers["etag"], on_bytes)
        except Exception as exc:  # a malformed response fails this object, not the batch
            _discard(job)
            job.outcome.set_exception(exc)

    RequestWindow(config, stats, "GetObject").run(jobs, send, settle)
    return [(job.ref, job.outcome) for job in jobs]


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


def _resume(downloader: FileDownloader, bucket: str, job: Job, start: int, size: int, etag: str,
            on_bytes: Callable[[int], None]) -> bool:
    assert job.part_file is not None
    downloader.resume(job.part_file, job.ref.local_path, bucket, job.ref.key, start, size, etag, on_bytes)
    return True


def _whole(downloader: FileDownloader, bucket: str, ref: S3ObjectRef, on_bytes: Callable[[int], None],
           on_size: Callable[[int], None]) -> bool:
    downloader.download(bucket, ref.key, ref.local_path, on_bytes, on_size)
    return True
