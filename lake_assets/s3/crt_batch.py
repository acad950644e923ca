"""Batches on the CRT engine: a window of requests in flight, retried and counted here, one per object.

Each object's outcome comes back as a :class:`~concurrent.futures.Future`, like the boto3 path's,
so the handler settles both engines the same way. A download starts with the object's tail; a
large object's head follows as one CRT download, pinned with ``If-Match`` to the tail's ETag;
multipart uploads stay on the boto3 path.
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
from lake_assets.s3.refs import S3ObjectRef
from lake_assets.s3.stats import TransferStatistics
from lake_assets.s3.translate import is_precondition_failure
from lake_assets.s3.upload import FileUploader

logger = logging.getLogger(__name__)

Send = Callable[["Job", Callable[[CrtResponse], None]], S3Request]
#: Settles a final response; returns the follow-up jobs it creates (the head of a large download).
Settle = Callable[["Job", CrtResponse], "list[Job] | None"]


@dataclass(frozen=True)
class _Tail:
    """The last bytes of a large object, downloaded first: their file, their offset, the object's version."""

    path: str
    start: int
    etag: str


@dataclass(eq=False)
class Job:
    """One request's worth of an object: its reference, the future of its outcome, how often it was sent.

    The download of a large object's head carries the tail that was downloaded first. ``moved`` is when
    its request was sent or last completed a part: the window cancels a request that stalls.
    """

    ref: S3ObjectRef
    outcome: Future[bool]
    size: int = 0
    attempts: int = 0
    part_file: str | None = None
    tail: _Tail | None = None
    moved: float = 0.0

    def touch(self, *_: object, **__: object) -> None:
        """Note that the request completed bytes now (a CRT progress callback)."""
        self.moved = time.monotonic()


class RequestWindow:
    """Keeps up to ``max_in_flight`` requests going; retries network errors and retryable statuses.

    Completions arrive on CRT threads and are handled here, on the calling thread, so settling an
    object (a rename, a hand-over to the boto3 path) never blocks the event loops. A request that completes
    nothing for ``read_timeout`` seconds (a stalled server, a half-open connection) is cancelled and counts
    as a network error: retried, then failed, so a batch always ends in bounded time. The CRT tells of a
    request's bytes only when the request, or a part of a large download, completes (its file stays empty
    until then: measured on a trickled GET), so this is a deadline for one request (up to
    ``multipart_threshold`` or ``multipart_chunksize`` bytes, a large download's part twice that), not a socket
    read timeout as on the classic engine.
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
        stalled: set[Job] = set()
        limit = self._config.read_timeout
        try:
            while ready or waiting or in_flight:
                now = time.monotonic()
                while waiting and waiting[0][0] <= now:
                    ready.append(heapq.heappop(waiting)[2])
                while ready and len(in_flight) < self._config.max_in_flight:
                    job = ready.pop()
                    job.attempts += 1
                    job.touch()
                    self._stats.on_request(self._operation, retry=job.attempts > 1)
                    in_flight[job] = send(job, lambda response, job=job: done.put((job, response)))
                for job in [job for job in in_flight if job not in stalled and now - job.moved >= limit]:
                    stalled.add(job)  # its completion (a cancellation) comes back through ``done``
                    in_flight[job].cancel()
                wakes = [job.moved + limit for job in in_flight if job not in stalled] + [due for due, *_ in waiting[:1]]
                timeout = max(min(wakes) - now, 0.0) if wakes else None
                try:
                    job, response = done.get(timeout=timeout)
                except queue.Empty:
                    continue
                del in_flight[job]
                if job in stalled:
                    stalled.discard(job)
                    response.status, response.error = None, TimeoutError(
                        f"{self._operation} s3 {job.ref.key}: nothing completed for {limit:.0f} s (read_timeout)")
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
        return crt.put_file(bucket, job.ref.key, job.ref.local_path, job.size, headers, on_done, job.touch)

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

    The first request GETs the last part's worth of bytes (a suffix range), which also tells the
    size and ETag: a small object costs exactly one request. For a larger one the CRT then
    downloads everything before that tail into the file, in parts, each pinned with ``If-Match``
    to that ETag (so a replaced object fails instead of mixing two versions), and the tail is
    appended: every byte crosses the network once and only the tail passes through Python. An
    empty object (no byte to range over) is fetched whole on the boto3 path.
    """
    tail_length = config.multipart_chunksize
    jobs = [Job(ref, Future()) for ref in refs]

    def send(job: Job, on_done: Callable[[CrtResponse], None]) -> S3Request:
        job.part_file = job.part_file or part_file_name(job.ref.local_path)
        if job.tail is None:
            return crt.get_tail(bucket, job.ref.key, tail_length, Path(job.part_file), on_done, job.touch)
        return crt.get_head(bucket, job.ref.key, job.tail.start - 1, job.tail.etag, Path(job.part_file), on_done,
                            lambda amount: (job.touch(), on_bytes(amount)))

    def settle(job: Job, response: CrtResponse) -> list[Job] | None:
        if not response.ok:
            _discard(job)
            if response.status == 416 and job.tail is None:
                job.outcome = objects_pool.submit(_whole, downloader, bucket, job.ref, on_bytes, on_size)
            else:
                job.outcome.set_exception(response.as_exception(job.attempts))
            return None
        try:
            if job.tail is None:
                start, job.size = _tail_span(response.headers)
                on_size(job.size)
                on_bytes(job.size - start)
                if start > 0:
                    tail = _Tail(job.part_file or "", start, response.headers["etag"])
                    return [Job(job.ref, job.outcome, size=job.size, tail=tail)]
            _commit(job, bucket)
            job.outcome.set_result(True)
        except Exception as exc:  # a malformed response or a failed commit fails this object, not the batch
            _discard(job)
            job.outcome.set_exception(exc)
        return None

    RequestWindow(config, stats, "GetObject").run(jobs, send, settle)
    return [(job.ref, job.outcome) for job in jobs]


def _tail_span(headers: dict[str, str]) -> tuple[int, int]:
    """Where the tail starts and the object's size, from ``Content-Range`` (or a whole-object 200's length)."""
    if "content-range" not in headers:
        return 0, int(headers["content-length"])
    tail_range, size = headers["content-range"].removeprefix("bytes ").split("/")
    return int(tail_range.split("-")[0]), int(size)


def _commit(job: Job, bucket: str) -> None:
    """Write a large object's tail after its head, check and flush the file, and rename it onto its target."""
    assert job.part_file is not None
    fd = os.open(job.part_file, os.O_WRONLY)
    try:
        if job.tail is not None:
            os.pwrite(fd, Path(job.tail.path).read_bytes(), job.tail.start)
        commit_part_file(fd, job.part_file, job.ref.local_path, job.size, bucket, job.ref.key)
    finally:
        os.close(fd)
    if job.tail is not None:
        Path(job.tail.path).unlink()


def _discard(job: Job) -> None:
    for name in (job.part_file, job.tail.path if job.tail else None):
        if name is not None:
            Path(name).unlink(missing_ok=True)


def _whole(downloader: FileDownloader, bucket: str, ref: S3ObjectRef, on_bytes: Callable[[int], None],
           on_size: Callable[[int], None]) -> bool:
    downloader.download(bucket, ref.key, ref.local_path, on_bytes, on_size)
    return True
