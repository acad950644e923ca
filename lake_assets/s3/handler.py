"""S3Handler: concurrent, encrypted, existence-checked batch transfers, and the single-object calls around them."""

from __future__ import annotations

import gzip
import logging
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from lake_assets.s3.client import build_client, resolve_credentials
from lake_assets.s3.crt import CrtClient
from lake_assets.s3.crt_batch import download_files, upload_files
from lake_assets.s3.config import MAX_PRESIGN_SECONDS, S3TransferConfig
from lake_assets.s3.download import FileDownloader, remove_orphaned_parts
from lake_assets.s3.errors import (
    BucketNotFoundError,
    CorruptObjectError,
    PreconditionFailedError,
    S3Error,
    classify,
    http_status,
    is_bucket_wide,
    translated,
)
from lake_assets.s3.listing import existing_keys, iter_objects, key_exists
from lake_assets.s3.progress import BatchProgress
from lake_assets.s3.refs import ObjectInfo, S3ObjectRef, TransferFailure
from lake_assets.s3.stats import TransferStatistics
from lake_assets.s3.upload import FileUploader, write_args

logger = logging.getLogger(__name__)

_NOT_OPEN = "S3Handler must be used as a context manager: `with S3Handler() as s3:`"
#: Keys per DeleteObjects request, S3's maximum.
DELETE_BATCH = 1000


class S3Handler:
    """Moves objects between local files and S3, many at a time; use it as a context manager.

    ``__enter__`` builds one boto3 client and two thread pools (objects, and parts of large objects),
    shared by every call; ``__exit__`` tears them down. With the ``"crt"`` engine (the default), the
    single-request transfers of a batch (uploads up to ``multipart_threshold``, every download range)
    go through one ``awscrt`` client built on first use, whose C event loops cost a fraction of
    boto3's CPU per request; multipart uploads and single-object calls stay on boto3.
    Every write asks for server-side encryption
    unless the config disables it. Batch calls check the bucket once (a HeadBucket, remembered for
    the handler's life), so a missing bucket or bad credentials raise one clear :class:`S3Error`
    instead of failing every object. Per-object failures after retries land in the ``failed`` list,
    with their reasons in :attr:`failures`.

    Example:
        >>> with S3Handler(S3TransferConfig(endpoint_url="http://127.0.0.1:8333")) as s3:  # doctest: +SKIP
        ...     uploaded, skipped, failed = s3.upload_objects("lake", refs)
    """

    def __init__(self, config: S3TransferConfig | None = None, verbose: bool = False) -> None:
        self.config = config or S3TransferConfig()
        self.verbose = verbose
        self._per_thread = threading.local()
        self._stats = TransferStatistics()
        self._client: BaseClient | None = None
        self._objects: ThreadPoolExecutor | None = None
        self._parts: ThreadPoolExecutor | None = None
        self._crt: CrtClient | None = None
        self._checked_buckets: set[str] = set()

    def __enter__(self) -> S3Handler:
        if self.verbose:
            logging.getLogger("lake_assets.s3").setLevel(logging.DEBUG)
        self._client = build_client(self.config, self._stats)
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
        self._client = self._objects = self._parts = self._crt = None
        self._checked_buckets.clear()

    @property
    def client(self) -> BaseClient:
        """The shared boto3 S3 client; only inside the ``with`` block."""
        if self._client is None:
            raise RuntimeError(_NOT_OPEN)
        return self._client

    @property
    def failures(self) -> list[TransferFailure]:
        """Why the objects in the last batch call's ``failed`` list failed (that call made on this thread).

        Kept per thread, so batches run concurrently on one handler keep their own reasons.
        """
        if not hasattr(self._per_thread, "failures"):
            self._per_thread.failures = []
        failures: list[TransferFailure] = self._per_thread.failures
        return failures

    @failures.setter
    def failures(self, value: list[TransferFailure]) -> None:
        self._per_thread.failures = value

    def _crt_client(self) -> CrtClient | None:
        """The CRT client of the ``"crt"`` engine, built on first use; None with ``"classic"``."""
        if self.config.engine != "crt":
            return None
        if self._crt is None:
            self._crt = CrtClient(self.config, resolve_credentials(self.config))
        return self._crt

    def _pools(self) -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
        if self._objects is None or self._parts is None:
            raise RuntimeError(_NOT_OPEN)
        return self._objects, self._parts

    # ------------------------------------------------------------------ statistics

    def get_statistics(self) -> dict[str, Any]:
        """Return requests by type, retries, bytes and outcomes since creation or the last reset."""
        return self._stats.snapshot()

    def reset_statistics(self) -> None:
        """Set every statistic back to zero."""
        self._stats.reset()

    # ------------------------------------------------------------------ batches

    def download_objects(self, bucket: str, objects: list[S3ObjectRef], overwrite: bool = False,
                         description: str | None = None) -> tuple[list[Path], list[Path], list[Path]]:
        """Download objects to their local paths; return ``(downloaded, skipped, failed)`` paths.

        With ``overwrite=False`` a local file that exists is skipped without any request. Each file
        is written to a temporary name beside its target and renamed only when complete, so
        ``local_path`` never holds a partial file, also when the process is interrupted.

        Raises:
            S3Error: the bucket is missing, the credentials are rejected, or the endpoint is down.
        """
        objects_pool, parts_pool = self._pools()
        self.failures = []
        skipped = [ref.local_path for ref in objects if not overwrite and ref.local_path.exists()]
        todo = [ref for ref in objects if overwrite or not ref.local_path.exists()]
        self._stats.add("skipped", len(skipped))
        if not todo:
            return [], skipped, []
        self._check_bucket(bucket)
        downloader = FileDownloader(self.client, self.config, parts_pool, self._stats)
        for directory in {ref.local_path.parent for ref in todo}:
            directory.mkdir(parents=True, exist_ok=True)
            remove_orphaned_parts(directory)
        downloaded: list[Path] = []
        failed: list[Path] = []
        with BatchProgress(description or f"Downloading from {bucket}", len(todo), 0,
                           self.config.show_progress) as progress:
            on_bytes = self._counting(progress, "bytes_downloaded")
            crt = self._crt_client()
            if crt is not None:
                futures = download_files(crt, downloader, objects_pool, self.config, self._stats, bucket, todo,
                                         on_bytes, progress.add_total)
            else:
                futures = [(ref, objects_pool.submit(self._download_one, downloader, bucket, ref, on_bytes,
                                                     progress.add_total)) for ref in todo]
            for ref, future in futures:
                if self._settle(future, bucket, ref, "GetObject", progress):
                    downloaded.append(ref.local_path)
                    self._stats.add("downloaded")
                else:
                    failed.append(ref.local_path)
        return downloaded, skipped, failed

    @staticmethod
    def _download_one(downloader: FileDownloader, bucket: str, ref: S3ObjectRef, on_bytes: Callable[[int], None],
                      on_size: Callable[[int], None]) -> bool:
        downloader.download(bucket, ref.key, ref.local_path, on_bytes, on_size)
        return True

    def upload_objects(self, bucket: str, objects: list[S3ObjectRef], overwrite: bool = False,
                       description: str | None = None) -> tuple[list[str], list[str], list[Path]]:
        """Upload local files; return ``(uploaded_keys, skipped_keys, failed_local_paths)``.

        With ``overwrite=False`` keys that exist are skipped: checked first (HEAD per key below
        ``existence_check_threshold`` keys, LIST over their prefixes above it) so no bytes are sent
        for them, and then every write is conditional (``If-None-Match: *``), so a key created by
        someone else in between is still never overwritten. A failed multipart upload is aborted.

        Raises:
            S3Error: the bucket is missing, the credentials are rejected, or the endpoint is down.
        """
        objects_pool, parts_pool = self._pools()
        self.failures = []
        present = [ref for ref in objects if ref.local_path.is_file()]
        failed = [ref.local_path for ref in objects if not ref.local_path.is_file()]
        for path in failed:
            self._fail(TransferFailure("", path, FileNotFoundError(f"{path} is not a file")))
        if not present:
            return [], [], failed
        self._check_bucket(bucket)
        existing: set[str] = set()
        if not overwrite:
            existing = self.existing_keys(bucket, [ref.key for ref in present])
        skipped = [ref.key for ref in present if ref.key in existing]
        todo = [ref for ref in present if ref.key not in existing]
        self._stats.add("skipped", len(skipped))
        if not todo:
            return [], skipped, failed
        uploader = FileUploader(self.client, self.config, parts_pool)
        uploaded: list[str] = []
        sizes = [ref.local_path.stat().st_size for ref in todo]
        with BatchProgress(description or f"Uploading to {bucket}", len(todo), sum(sizes),
                           self.config.show_progress) as progress:
            on_bytes = self._counting(progress, "bytes_uploaded")
            crt = self._crt_client()
            single: list[tuple[S3ObjectRef, int]] = []
            in_parts: list[S3ObjectRef] = []
            for ref, size in zip(todo, sizes):
                if crt is not None and size <= self.config.multipart_threshold:
                    single.append((ref, size))
                else:
                    in_parts.append(ref)
            futures = [(ref, objects_pool.submit(uploader.upload, bucket, ref.key, ref.local_path, overwrite,
                                                 on_bytes, ref.metadata)) for ref in in_parts]
            if crt is not None:
                futures += upload_files(crt, uploader, self.config, self._stats, bucket, single, overwrite,
                                        on_bytes)
            for ref, future in futures:
                written = self._settle(future, bucket, ref, "PutObject", progress)
                if written is None:
                    failed.append(ref.local_path)
                elif written:
                    uploaded.append(ref.key)
                    self._stats.add("uploaded")
                else:
                    skipped.append(ref.key)
                    self._stats.add("skipped")
        return uploaded, skipped, failed

    def existing_keys(self, bucket: str, keys: Iterable[str]) -> set[str]:
        """Return which of ``keys`` exist, choosing HEAD per key or LIST by prefix by batch size.

        Raises:
            S3Error: the bucket is missing, the credentials are rejected, or the endpoint is down.
        """
        self._check_bucket(bucket)
        objects_pool, _ = self._pools()

        def on_error(key: str, exc: Exception) -> None:
            error = classify(exc, operation="HeadObject", bucket=bucket, key=key)
            if is_bucket_wide(error):
                raise error
            logger.warning("%s; treating the key as absent, the conditional write still protects it", error)

        with translated("ListObjectsV2", bucket):
            return existing_keys(self.client, bucket, keys, self.config.existence_check_threshold,
                                 objects_pool, on_error)

    def _counting(self, progress: BatchProgress, counter: str) -> Callable[[int], None]:
        def on_bytes(amount: int) -> None:
            self._stats.add(counter, amount)
            progress.add_bytes(amount)
        return on_bytes

    def _settle(self, future: Future[bool], bucket: str, ref: S3ObjectRef, operation: str,
                progress: BatchProgress) -> bool | None:
        """Return the future's result (whether it wrote), or record the failure and return None."""
        try:
            return future.result()
        except Exception as exc:  # one object's failure is reported, the batch goes on
            error = classify(exc, operation=operation, bucket=bucket, key=ref.key)
            self._fail(TransferFailure(ref.key, ref.local_path, error))
            return None
        finally:
            progress.file_done()

    def _fail(self, failure: TransferFailure) -> None:
        self.failures.append(failure)
        self._stats.add("failed")
        logger.error("%s", failure.error)

    def _check_bucket(self, bucket: str) -> None:
        """Fail fast, once per bucket, if the bucket is missing or the credentials are rejected.

        HEAD responses carry no error code, so a 403 or 400 is asked again as a one-key LIST, whose
        body says whether the key, the signature or the permission is at fault.
        """
        if bucket in self._checked_buckets:
            return
        try:
            self.client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if http_status(exc) == 404:
                raise BucketNotFoundError(
                    f"bucket s3://{bucket} does not exist at {self.config.endpoint_url or 'AWS'} "
                    "(create it or check its name and the endpoint)", bucket=bucket,
                    operation="HeadBucket", code="NoSuchBucket") from exc
            self._explain_head_bucket_failure(bucket, exc)
        except S3Error:
            raise
        except Exception as exc:
            raise classify(exc, operation="HeadBucket", bucket=bucket) from exc
        self._checked_buckets.add(bucket)

    def _explain_head_bucket_failure(self, bucket: str, head_error: ClientError) -> None:
        try:
            self.client.list_objects_v2(Bucket=bucket, MaxKeys=1)
        except ClientError as exc:
            raise classify(exc, operation="HeadBucket", bucket=bucket) from head_error
        raise classify(head_error, operation="HeadBucket", bucket=bucket)

    # ------------------------------------------------------------------ single objects

    def iter_objects(self, bucket: str, prefix: str = "", start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Yield every object under ``prefix`` in key order, paginated, resuming after ``start_after``."""
        with translated("ListObjectsV2", bucket, prefix or None):
            yield from iter_objects(self.client, bucket, prefix, start_after)

    def info(self, bucket: str, key: str) -> ObjectInfo:
        """Return an object's size, ETag, metadata and encryption, from one HEAD request."""
        return ObjectInfo.from_head(key, self._call("HeadObject", bucket, key, self.client.head_object,
                                                    Bucket=bucket, Key=key))

    def get_bytes(self, bucket: str, key: str, decompress: bool = False) -> bytes:
        """Return an object's bytes, gunzipped when ``decompress`` is True.

        Raises:
            CorruptObjectError: ``decompress`` is set and the object is not valid gzip.
        """
        response = self._call("GetObject", bucket, key, self.client.get_object, Bucket=bucket, Key=key)
        data = response["Body"].read()
        self._stats.add("bytes_downloaded", len(data))
        if not decompress:
            return data
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise CorruptObjectError(f"s3://{bucket}/{key} is not valid gzip: {exc}", bucket=bucket,
                                     key=key, operation="GetObject") from exc

    def get_range(self, bucket: str, key: str, offset: int, length: int) -> bytes:
        """Return ``length`` bytes of an object from ``offset`` (fewer at its end), in one ranged GET."""
        if offset < 0 or length < 1:
            raise ValueError(f"need offset >= 0 and length >= 1, got offset={offset} length={length}")
        response = self._call("GetObject", bucket, key, self.client.get_object, Bucket=bucket, Key=key,
                              Range=f"bytes={offset}-{offset + length - 1}")
        data = response["Body"].read()
        self._stats.add("bytes_downloaded", len(data))
        return data

    def put_bytes(self, bucket: str, key: str, data: bytes, overwrite: bool = False,
                  content_type: str | None = None, metadata: dict[str, str] | None = None) -> bool:
        """Write ``data`` to ``key`` in one encrypted PUT; return False if the key existed and was kept."""
        extra: dict[str, Any] = write_args(self.config, overwrite)
        if content_type:
            extra["ContentType"] = content_type
        if metadata:
            extra["Metadata"] = dict(metadata)
        written = self._conditional("PutObject", bucket, key, self.client.put_object, Bucket=bucket,
                                    Key=key, Body=data, **extra)
        if written:
            self._stats.add("bytes_uploaded", len(data))
        return written

    def copy_object(self, src_bucket: str, src_key: str, bucket: str, key: str, overwrite: bool = False,
                    source_etag: str | None = None, metadata: dict[str, str] | None = None) -> bool:
        """Copy an object server-side (no bytes through this machine), encrypted; False if kept.

        With ``source_etag`` the copy happens only if the source still has that ETag; otherwise a
        :class:`PreconditionFailedError` says it changed. ``metadata`` replaces the copy's user
        metadata (else the source's is kept). One CopyObject request, so objects up to S3's 5 GiB
        single-copy limit.
        """
        args = write_args(self.config, overwrite)
        if source_etag:
            args["CopySourceIfMatch"] = f'"{source_etag}"'
        if metadata is not None:
            args.update(MetadataDirective="REPLACE", Metadata=dict(metadata))
        try:
            written = self._conditional("CopyObject", bucket, key, self.client.copy_object, Bucket=bucket,
                                        Key=key, CopySource={"Bucket": src_bucket, "Key": src_key}, **args)
        except PreconditionFailedError as exc:
            if not source_etag:
                raise
            raise _source_changed(src_bucket, src_key, source_etag, bucket, key) from exc
        if written:
            self._stats.add("copied")
        elif source_etag and not self._exists(bucket, key):
            # A 412 with both conditions: the destination is absent, so the source was the one that failed.
            raise _source_changed(src_bucket, src_key, source_etag, bucket, key)
        return written

    def _exists(self, bucket: str, key: str) -> bool:
        with translated("HeadObject", bucket, key):
            return key_exists(self.client, bucket, key)

    def delete_objects(self, bucket: str, keys: Iterable[str]) -> list[str]:
        """Delete keys, 1,000 per request; return the keys S3 reported it could not delete."""
        pending = list(dict.fromkeys(keys))
        failed: list[str] = []
        for start in range(0, len(pending), DELETE_BATCH):
            batch = pending[start:start + DELETE_BATCH]
            response = self._call("DeleteObjects", bucket, None, self.client.delete_objects, Bucket=bucket,
                                  Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True})
            for error in response.get("Errors", ()):
                logger.error("could not delete s3://%s/%s: %s", bucket, error["Key"], error.get("Message"))
                failed.append(error["Key"])
        return failed

    def abort_incomplete_uploads(self, bucket: str, prefix: str = "",
                                 older_than: timedelta = timedelta(hours=1)) -> list[str]:
        """Abort multipart uploads under ``prefix`` started more than ``older_than`` ago; return their keys.

        Uploads whose process was killed (SIGKILL, a lost machine) stay open, invisible and billed until
        aborted; ``older_than`` spares uploads that may still be running.
        """
        cutoff = datetime.now(timezone.utc) - older_than
        aborted: list[str] = []
        with translated("ListMultipartUploads", bucket, prefix or None):
            for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
                for upload in page.get("Uploads", ()):
                    if upload["Initiated"] <= cutoff:
                        self.client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"],
                                                           UploadId=upload["UploadId"])
                        aborted.append(upload["Key"])
        for key in aborted:
            logger.info("aborted an incomplete multipart upload of s3://%s/%s", bucket, key)
        return aborted

    def presign_get(self, bucket: str, key: str, expires_in: int = 3600) -> str:
        """Return a SigV4 URL that lets anyone holding it GET the object for ``expires_in`` seconds.

        Raises:
            ValueError: ``expires_in`` is not between 1 second and 7 days (SigV4's limit).
        """
        if not 1 <= expires_in <= MAX_PRESIGN_SECONDS:
            raise ValueError(f"expires_in must be between 1 and {MAX_PRESIGN_SECONDS} seconds, got {expires_in}")
        return self.client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                                  ExpiresIn=expires_in)

    def _call(self, operation: str, bucket: str, key: str | None, method: Callable[..., Any],
              **kwargs: Any) -> Any:
        with translated(operation, bucket, key):
            return method(**kwargs)

    def _conditional(self, operation: str, bucket: str, key: str, method: Callable[..., Any],
                     **kwargs: Any) -> bool:
        """Run a write; return False when its ``If-None-Match: *`` condition failed (the key exists)."""
        try:
            self._call(operation, bucket, key, method, **kwargs)
        except PreconditionFailedError:
            if "IfNoneMatch" in kwargs:
                return False
            raise
        return True


def _source_changed(src_bucket: str, src_key: str, etag: str, bucket: str, key: str) -> PreconditionFailedError:
    return PreconditionFailedError(
        f"CopyObject s3://{src_bucket}/{src_key} changed (its ETag is no longer {etag}); s3://{bucket}/{key} "
        "was not written", bucket=src_bucket, key=src_key, operation="CopyObject", code="PreconditionFailed")
