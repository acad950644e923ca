"""Upload one local file: a single conditional PUT, or a multipart upload that is aborted on failure."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import Executor, Future
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from lake_assets.s3.claims import CommitClaims
from lake_assets.s3.client import ClientSource, ClientUser
from lake_assets.s3.config import S3TransferConfig
from lake_assets.s3.errors import PreconditionFailedError, TransferFailedError
from lake_assets.s3.translate import is_precondition_failure, was_retried

logger = logging.getLogger(__name__)


def multipart_etag(parts: list[dict[str, Any]]) -> str:
    """Return the ETag S3 gives a multipart object: MD5 of the parts' binary MD5s, then ``-<count>``."""
    digests = b"".join(bytes.fromhex(part["ETag"].strip('"')) for part in parts)
    return f"{hashlib.md5(digests).hexdigest()}-{len(parts)}"


def write_args(config: S3TransferConfig, overwrite: bool) -> dict[str, Any]:
    """Return the encryption and condition parameters of a write (PUT, complete, copy)."""
    args = config.encryption_args()
    if not overwrite:
        args["IfNoneMatch"] = "*"
    return args


class FileUploader(ClientUser):
    """Uploads files through one shared client; large files send their parts on ``part_executor``.

    With ``overwrite=False`` every write is conditional (``If-None-Match: *`` on PutObject and on
    CompleteMultipartUpload), so of two concurrent writers exactly one wins and the other is told
    the key exists: there is no window between a check and a write. A multipart upload completes
    only while it holds the key's commit claim (:mod:`lake_assets.s3.claims`), because SeaweedFS
    does not evaluate the completion's condition atomically. A write whose response was lost
    is retried by botocore and then meets its own object (412); the object's ETag tells it apart
    from someone else's (MD5 of the body, or of the parts), so it still counts as uploaded.
    """

    def __init__(self, client: ClientSource, config: S3TransferConfig, part_executor: Executor) -> None:
        self._client_source = client
        self._config = config
        self._parts = part_executor
        self._claims = CommitClaims(client, config)

    def upload(self, bucket: str, key: str, path: Path, overwrite: bool, on_bytes: Callable[[int], None],
               metadata: dict[str, str] | None = None) -> bool:
        """Upload ``path`` to ``key``; return False when the key already existed and was left alone."""
        size = path.stat().st_size
        args = write_args(self._config, overwrite)
        if metadata:
            args["Metadata"] = dict(metadata)
        try:
            if size <= self._config.multipart_threshold:
                data = path.read_bytes()
                try:
                    self._client.put_object(Bucket=bucket, Key=key, Body=data, **args)
                except ClientError as exc:
                    if not self.landed_earlier(exc, bucket, key, lambda: hashlib.md5(data).hexdigest()):
                        raise
                on_bytes(size)
            else:
                self._multipart(bucket, key, path, size, args, on_bytes)
        except (ClientError, PreconditionFailedError) as exc:
            if not overwrite and is_precondition_failure(exc):
                logger.debug("s3://%s/%s exists; skipped", bucket, key)
                return False
            raise
        return True

    def _multipart(self, bucket: str, key: str, path: Path, size: int, args: dict[str, Any],
                   on_bytes: Callable[[int], None]) -> None:
        condition = {"IfNoneMatch": args.pop("IfNoneMatch")} if "IfNoneMatch" in args else {}
        upload_id = self._client.create_multipart_upload(Bucket=bucket, Key=key, **args)["UploadId"]
        part_size = self._config.part_size_for(size)
        futures: list[Future[dict[str, Any]]] = []
        try:
            for number, offset in enumerate(range(0, size, part_size), start=1):
                length = min(part_size, size - offset)
                futures.append(self._parts.submit(self._upload_part, bucket, key, upload_id, path,
                                                  number, offset, length, on_bytes))
            parts = [future.result() for future in futures]
            with self._claims.held(bucket, key) if condition else nullcontext():
                self._complete(bucket, key, upload_id, parts, condition)
        except BaseException:
            for future in futures:
                future.cancel()
            self._abort(bucket, key, upload_id)
            raise

    def _complete(self, bucket: str, key: str, upload_id: str, parts: list[dict[str, Any]],
                  condition: dict[str, str]) -> None:
        try:
            self._client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                                   MultipartUpload={"Parts": parts}, **condition)
        except ClientError as exc:
            if not self.landed_earlier(exc, bucket, key, lambda: multipart_etag(parts)):
                raise

    def landed_earlier(self, exc: ClientError, bucket: str, key: str, expected_etag: Callable[[], str]) -> bool:
        """After a retried conditional write failed with 412: is the object there our own earlier attempt?"""
        if not (is_precondition_failure(exc) and was_retried(exc)):
            return False
        try:
            current = self._client.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
        except ClientError:
            return False
        ours = current == expected_etag()
        logger.info("s3://%s/%s: retried write met %s object", bucket, key, "its own" if ours else "another")
        return ours

    def _upload_part(self, bucket: str, key: str, upload_id: str, path: Path, number: int,
                     offset: int, length: int, on_bytes: Callable[[int], None]) -> dict[str, Any]:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read(length)
        if len(data) != length:
            raise TransferFailedError(f"{path} changed size while uploading to s3://{bucket}/{key}",
                                      bucket=bucket, key=key, operation="UploadPart")
        response = self._client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id,
                                            PartNumber=number, Body=data)
        on_bytes(length)
        return {"PartNumber": number, "ETag": response["ETag"]}

    def _abort(self, bucket: str, key: str, upload_id: str) -> None:
        """Abort an upload so no parts are left billed and invisible; a failed abort is logged, not raised."""
        try:
            self._client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception:  # the original failure matters more; this one is logged for cleanup
            logger.warning("could not abort multipart upload %s of s3://%s/%s", upload_id, bucket, key,
                           exc_info=True)
