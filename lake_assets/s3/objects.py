"""The single-object calls of the handler: list, HEAD, GET, PUT, copy, delete, abort, presign.

A mixin, so :class:`~lake_assets.s3.S3Handler` keeps one API while its batch machinery and these
one-request calls live in modules of their own. Every call maps botocore errors to :class:`S3Error`s.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from botocore.client import BaseClient

from lake_assets.s3.config import MAX_PRESIGN_SECONDS, S3TransferConfig
from lake_assets.s3.errors import CorruptObjectError, ObjectNotFoundError, PreconditionFailedError
from lake_assets.s3.listing import LIST_PAGE_SIZE, iter_objects, key_exists
from lake_assets.s3.refs import ObjectInfo
from lake_assets.s3.stats import TransferStatistics
from lake_assets.s3.translate import translated
from lake_assets.s3.upload import write_args

logger = logging.getLogger(__name__)

#: Keys per DeleteObjects request, S3's maximum.
DELETE_BATCH = 1000


class ObjectCalls:
    """One-request operations on single objects, through the handler's shared client and statistics."""

    config: S3TransferConfig
    _stats: TransferStatistics

    @property
    def client(self) -> BaseClient:
        """The shared boto3 client (provided by the handler)."""
        raise NotImplementedError

    def iter_objects(self, bucket: str, prefix: str = "", start_after: str | None = None,
                     page_size: int = LIST_PAGE_SIZE) -> Iterator[ObjectInfo]:
        """Yield every object under ``prefix`` in key order, in pages of at most ``page_size`` (and 1,000),
        resuming after ``start_after``."""
        with translated("ListObjectsV2", bucket, prefix or None):
            yield from iter_objects(self.client, bucket, prefix, start_after, page_size)

    def info(self, bucket: str, key: str) -> ObjectInfo:
        """Return an object's size, ETag, metadata and encryption, from one HEAD request."""
        return ObjectInfo.from_head(key, self._call("HeadObject", bucket, key, self.client.head_object,
                                                    Bucket=bucket, Key=key))

    def find(self, bucket: str, key: str) -> ObjectInfo | None:
        """Return :meth:`info` of ``key``, or None when there is no such object."""
        try:
            return self.info(bucket, key)
        except ObjectNotFoundError:
            return None

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
