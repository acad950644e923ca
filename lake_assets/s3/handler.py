"""S3Handler: concurrent, encrypted, existence-checked batch transfers; its single-object calls are in ``objects``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

from botocore.client import BaseClient

from lake_assets.s3.buckets import CheckedBuckets
from lake_assets.s3.client import build_client
from lake_assets.s3.config import S3TransferConfig
from lake_assets.s3.crt import CrtClient, crt_client_for, crt_usable
from lake_assets.s3.crt_batch import download_files, upload_files
from lake_assets.s3.crt_keys import key_lookup
from lake_assets.s3.download import FileDownloader, remove_orphaned_parts
from lake_assets.s3.listing import existing_keys
from lake_assets.s3.objects import ObjectCalls
from lake_assets.s3.progress import ProgressFactory, ProgressListener, default_progress
from lake_assets.s3.refs import BatchResult, Item, S3ObjectRef, TransferFailure
from lake_assets.s3.stats import TransferStatistics
from lake_assets.s3.translate import classify, is_bucket_wide, translated
from lake_assets.s3.upload import FileUploader

logger = logging.getLogger(__name__)

_NOT_OPEN = "S3Handler must be used as a context manager: `with S3Handler() as s3:`"


class S3Handler(ObjectCalls):
    """Moves objects between local files and S3, many at a time; use it as a context manager.

    ``__enter__`` builds two thread pools (objects, and parts of large objects), shared by every call; the one
    boto3 client is built when first needed; ``__exit__`` tears them down. With the ``"crt"`` engine (the
    default), a batch's uploads up to ``multipart_threshold``, its existence checks and all its downloads go
    through ``awscrt``, whose C event loops cost a fraction of boto3's CPU per request and write downloads to their
    files without passing the bytes through Python; multipart uploads and single-object calls stay on boto3.
    The CRT signs with boto3's credential chain, refreshed as boto3 refreshes it. Behind an ``HTTP(S)_PROXY``
    for the endpoint, batches run on the classic engine, with a warning (:func:`~lake_assets.s3.crt.crt_usable`).
    Every write asks for server-side encryption unless the config disables it. Batch calls check the bucket once
    (a HeadBucket, remembered for the handler's life), so a missing bucket or bad credentials raise one clear
    :class:`S3Error` instead of failing every object.

    Results: :meth:`upload_batch` and :meth:`download_batch` return a :class:`BatchResult` holding each failure
    with its reason; :meth:`upload_objects` and :meth:`download_objects` return the seed's ``(done, skipped,
    failed)`` tuple and keep the reasons in :attr:`failures`. Progress: ``progress`` is called once a batch
    (:mod:`lake_assets.s3.progress`); default: bars if ``show_progress``.

    Example:
        >>> with S3Handler(S3TransferConfig(endpoint_url="http://127.0.0.1:8333")) as s3:  # doctest: +SKIP
        ...     uploaded, skipped, failed = s3.upload_objects("lake", refs)
    """

    def __init__(self, config: S3TransferConfig | None = None, verbose: bool = False,
                 progress: ProgressFactory | None = None) -> None:
        self.config = config or S3TransferConfig()
        self.verbose = verbose
        self._progress = progress or default_progress(self.config.show_progress)
        self._per_thread = threading.local()
        self._stats = TransferStatistics()
        self._client: BaseClient | None = None
        self._buckets: CheckedBuckets | None = None
        self._objects: ThreadPoolExecutor | None = None
        self._parts: ThreadPoolExecutor | None = None
        self._crt: CrtClient | None = None
        self._use_crt, self._crt_lock, self._client_lock = False, threading.Lock(), threading.Lock()

    def __enter__(self) -> S3Handler:
        if self.verbose:
            logging.getLogger("lake_assets.s3").setLevel(logging.DEBUG)
        self._use_crt = crt_usable(self.config)
        self._buckets = CheckedBuckets(lambda: self.client, self.config, self._crt_client, self._stats)
        self._objects = ThreadPoolExecutor(self.config.max_concurrency, thread_name_prefix="s3-object")
        self._parts = ThreadPoolExecutor(self.config.max_concurrency, thread_name_prefix="s3-part")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for pool in (self._objects, self._parts):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        if self._client is not None:
            self._client.close()
        self._client = self._buckets = self._objects = self._parts = self._crt = None

    @property
    def client(self) -> BaseClient:
        """The shared boto3 S3 client inside the ``with`` block, built on first use (a batch the CRT moves needs
        none; a missing named profile raises InvalidCredentialsError then); no lock once built."""
        if self._client is None:
            if self._buckets is None:
                raise RuntimeError(_NOT_OPEN)
            with self._client_lock:
                if self._client is None:
                    self._client = build_client(self.config, self._stats)
        return self._client

    @property
    def failures(self) -> list[TransferFailure]:
        """Why the objects in the ``failed`` list of this thread's last ``*_objects`` call failed.

        Kept per thread, so batches run concurrently on one handler keep their own reasons. The
        ``*_batch`` calls return the same failures in their :class:`BatchResult` instead.
        """
        failures: list[TransferFailure] = self._per_thread.__dict__.setdefault("failures", [])
        return failures

    def _seed_tuple(self, batch: Callable[[], BatchResult[Item]]) -> tuple[list[Item], list[Item], list[Path]]:
        """Run ``batch``; return the seed's ``(done, skipped, failed)`` tuple, its reasons kept in :attr:`failures`
        (emptied first, so a call that raises leaves no reasons of an earlier call behind)."""
        self._per_thread.failures = []
        result = batch()
        self._per_thread.failures = result.failures
        return result.as_tuple()

    def _crt_client(self) -> CrtClient | None:
        """The CRT client of the ``"crt"`` engine, built on first use; None with ``"classic"`` or behind a proxy."""
        with self._crt_lock:  # the partitions of a range run share one handler from their threads
            if self._use_crt and self._crt is None:
                self._crt = crt_client_for(self.config)
        return self._crt

    def _pools(self) -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
        if self._objects is None or self._parts is None:
            raise RuntimeError(_NOT_OPEN)
        return self._objects, self._parts

    def check_bucket(self, bucket: str) -> None:
        """Raise the named :class:`S3Error` if ``bucket`` is missing or refuses these keys (once per bucket)."""
        if self._buckets is None:
            raise RuntimeError(_NOT_OPEN)
        self._buckets.ensure(bucket)

    def get_statistics(self) -> dict[str, Any]:
        """Return requests by type, retries, bytes and outcomes since creation or the last reset."""
        return self._stats.snapshot()

    def reset_statistics(self) -> None:
        """Set every statistic back to zero."""
        self._stats.reset()

    def download_objects(self, bucket: str, objects: list[S3ObjectRef], overwrite: bool = False,
                         description: str | None = None) -> tuple[list[Path], list[Path], list[Path]]:
        """The seed's download: :meth:`download_batch` as ``(downloaded, skipped, failed)`` local paths; raises
        what it raises, and keeps the failures' reasons in :attr:`failures`."""
        return self._seed_tuple(lambda: self.download_batch(bucket, objects, overwrite, description))

    def download_batch(self, bucket: str, objects: list[S3ObjectRef], overwrite: bool = False,
                       description: str | None = None) -> BatchResult[Path]:
        """Download objects to their local paths; return the paths done and skipped, and each failure.

        With ``overwrite=False`` a local file that exists is skipped without any request. Each file
        is written to a temporary name beside its target and renamed only when complete, so
        ``local_path`` never holds a partial file, also when the process is interrupted.

        Raises:
            S3Error: the bucket is missing, the credentials are rejected, or the endpoint is down.
        """
        objects_pool, parts_pool = self._pools()
        skipped = [ref.local_path for ref in objects if not overwrite and ref.local_path.exists()]
        todo = [ref for ref in objects if overwrite or not ref.local_path.exists()]
        self._stats.add("skipped", len(skipped))
        result: BatchResult[Path] = BatchResult([], skipped, [])
        if not todo:
            return result
        self.check_bucket(bucket)
        downloader = FileDownloader(lambda: self.client, self.config, parts_pool, self._stats)
        for directory in {ref.local_path.parent for ref in todo}:
            directory.mkdir(parents=True, exist_ok=True)
            remove_orphaned_parts(directory)
        with self._progress(description or f"Downloading from {bucket}", len(todo), 0) as progress:
            on_bytes = self._counting(progress, "bytes_downloaded")
            crt = self._crt_client()
            if crt is not None:
                futures = download_files(crt, downloader, objects_pool, self.config, self._stats, bucket, todo,
                                         on_bytes, progress.add_total)
            else:
                futures = [(ref, objects_pool.submit(self._download_one, downloader, bucket, ref, on_bytes,
                                                     progress.add_total)) for ref in todo]
            for ref, future in futures:
                if self._settle(future, bucket, ref, "GetObject", progress, result.failures):
                    result.done.append(ref.local_path)
                    self._stats.add("downloaded")
        return result

    @staticmethod
    def _download_one(downloader: FileDownloader, bucket: str, ref: S3ObjectRef, on_bytes: Callable[[int], None],
                      on_size: Callable[[int], None]) -> bool:
        downloader.download(bucket, ref.key, ref.local_path, on_bytes, on_size)
        return True

    def upload_objects(self, bucket: str, objects: list[S3ObjectRef], overwrite: bool = False,
                       description: str | None = None) -> tuple[list[str], list[str], list[Path]]:
        """The seed's upload: :meth:`upload_batch` as ``(uploaded_keys, skipped_keys, failed_local_paths)``.

        Each failed path's reason is in :attr:`failures`, for the thread that made the call.
        """
        return self._seed_tuple(lambda: self.upload_batch(bucket, objects, overwrite, description))

    def upload_batch(self, bucket: str, objects: list[S3ObjectRef], overwrite: bool = False,
                     description: str | None = None) -> BatchResult[str]:
        """Upload local files; return the keys uploaded and skipped, and each failure with its reason.

        With ``overwrite=False`` keys that exist are skipped: checked first (HEAD per key below
        ``existence_check_threshold`` keys, LIST over their prefixes above it) so no bytes are sent
        for them, and then every write is conditional (``If-None-Match: *``), so a key created by
        someone else in between is still never overwritten. A failed multipart upload is aborted.

        Raises:
            S3Error: the bucket is missing, the credentials are rejected, or the endpoint is down.
        """
        objects_pool, parts_pool = self._pools()
        result: BatchResult[str] = BatchResult([], [], [])
        present = [ref for ref in objects if ref.local_path.is_file()]
        for ref in objects:
            if not ref.local_path.is_file():
                self._fail(TransferFailure("", ref.local_path, FileNotFoundError(f"{ref.local_path} is not a file")),
                           result.failures)
        if not present:
            return result
        self.check_bucket(bucket)
        existing = set() if overwrite else self.existing_keys(bucket, [ref.key for ref in present],
                                                              unknown_is_absent=True)
        result.skipped.extend(ref.key for ref in present if ref.key in existing)
        todo = [ref for ref in present if ref.key not in existing]
        self._stats.add("skipped", len(result.skipped))
        if not todo:
            return result
        uploader = FileUploader(lambda: self.client, self.config, parts_pool)
        sizes = [ref.local_path.stat().st_size for ref in todo]
        with self._progress(description or f"Uploading to {bucket}", len(todo), sum(sizes)) as progress:
            on_bytes = self._counting(progress, "bytes_uploaded")
            crt = self._crt_client()
            single = [(ref, size) for ref, size in zip(todo, sizes)
                      if crt is not None and size <= self.config.multipart_threshold]
            in_parts = [ref for ref, size in zip(todo, sizes)
                        if crt is None or size > self.config.multipart_threshold]
            futures = [(ref, objects_pool.submit(uploader.upload, bucket, ref.key, ref.local_path, overwrite,
                                                 on_bytes, ref.metadata)) for ref in in_parts]
            if crt is not None:
                futures += upload_files(crt, uploader, self.config, self._stats, bucket, single, overwrite,
                                        on_bytes)
            for ref, future in futures:
                written = self._settle(future, bucket, ref, "PutObject", progress, result.failures)
                if written is not None:
                    (result.done if written else result.skipped).append(ref.key)
                    self._stats.add("uploaded" if written else "skipped")
        return result

    def existing_keys(self, bucket: str, keys: Iterable[str], threshold: int | None = None,
                      unknown_is_absent: bool = False) -> set[str]:
        """Return which of ``keys`` exist: one HEAD each below ``threshold`` keys (default: the config's
        ``existence_check_threshold``), else LIST by prefix; neighbouring keys (days) deserve a low threshold.
        A HEAD that failed (not a 404) raises, as a reader needs; a writer whose conditional write protects the
        key anyway may pass ``unknown_is_absent`` to count it absent, with a warning.

        Raises:
            S3Error: a missing bucket, rejected credentials, the endpoint down, or a failed HEAD.
        """
        self.check_bucket(bucket)
        objects_pool, _ = self._pools()

        def on_error(key: str, exc: Exception) -> None:
            error = classify(exc, operation="HeadObject", bucket=bucket, key=key)
            if is_bucket_wide(error) or not unknown_is_absent:
                raise error
            logger.warning("%s; treating the key as absent, the conditional write still protects it", error)

        with translated("ListObjectsV2", bucket):
            return existing_keys(key_lookup(lambda: self.client, self._crt_client(), self._stats), bucket, keys,
                                 self.config.existence_check_threshold if threshold is None else threshold,
                                 objects_pool, on_error)

    def _counting(self, progress: ProgressListener, counter: str) -> Callable[[int], None]:
        def on_bytes(amount: int) -> None:
            self._stats.add(counter, amount)
            progress.add_bytes(amount)
        return on_bytes

    def _settle(self, future: Future[bool], bucket: str, ref: S3ObjectRef, operation: str,
                progress: ProgressListener, failures: list[TransferFailure]) -> bool | None:
        """Return the future's result (whether it wrote), or record the failure and return None."""
        try:
            return future.result()
        except Exception as exc:  # one object's failure is reported, the batch goes on
            error = classify(exc, operation=operation, bucket=bucket, key=ref.key)
            self._fail(TransferFailure(ref.key, ref.local_path, error), failures)
            return None
        finally:
            progress.file_done()

    def _fail(self, failure: TransferFailure, failures: list[TransferFailure]) -> None:
        failures.append(failure)
        self._stats.add("failed")
        logger.error("%s", failure.error)
