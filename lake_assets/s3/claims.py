"""Commit claims: one writer at a time completes a conditional multipart upload to a key.

S3 evaluates ``If-None-Match: *`` on CompleteMultipartUpload atomically, so of two writers completing
the same new key one gets 412. SeaweedFS 4.48 does not: it checks the condition, then writes, outside
the per-object lock its PutObject takes, and in a race both completions can return 200, the second
replacing the first (``bench/multipart_race.py``). Its conditional PutObject, DeleteObject and
``If-Match`` PutObject are atomic. So before completing, a writer creates a small claim object
``<claim_prefix><key>`` with ``If-None-Match: *``; only the claim's holder completes (still
conditionally), then deletes the claim with ``If-Match`` on its own ETag. A writer that finds the
claim taken waits for it to go, and stops waiting as soon as the key exists (it lost the race).

A claim is a lease of ``claim_ttl`` seconds, aged by the server's own clock (``Date`` against
``Last-Modified``): a claim older than that was left by a writer that died mid-commit and is taken
over with a PUT conditioned on its ETag, so exactly one waiter gets it. On AWS S3 a claim is
redundant but harmless: two small requests per multipart object written with ``overwrite=False``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.exceptions import ClientError

from lake_assets.s3.client import ClientSource, ClientUser
from lake_assets.s3.config import S3TransferConfig
from lake_assets.s3.errors import PreconditionFailedError, TransferFailedError
from lake_assets.s3.listing import key_exists
from lake_assets.s3.translate import http_status, was_retried

logger = logging.getLogger(__name__)

#: S3's longest key, in UTF-8 bytes; a claim for a longer name is keyed by the name's SHA-256.
MAX_KEY_BYTES = 1024
#: Polling interval while another writer holds the claim: first, and at most.
FIRST_WAIT, LONGEST_WAIT = 0.02, 0.5
#: HTTP statuses of a conditional write that lost to another (409: S3's concurrent-conditional conflict).
LOST_RACE = (409, 412)


@dataclass(frozen=True)
class Claim:
    """A held claim: its object's key and the ETag that proves it is still ours."""

    key: str
    etag: str


def claim_key(config: S3TransferConfig, key: str) -> str:
    """Return the key of the claim object that guards the completion of ``key``."""
    readable = f"{config.claim_prefix}{key}"
    if len(readable.encode()) <= MAX_KEY_BYTES:
        return readable
    return f"{config.claim_prefix}sha256/{hashlib.sha256(key.encode()).hexdigest()}"


class CommitClaims(ClientUser):
    """Takes and releases commit claims through one shared boto3 client."""

    def __init__(self, client: ClientSource, config: S3TransferConfig) -> None:
        self._client_source = client
        self._config = config

    @contextmanager
    def held(self, bucket: str, key: str) -> Iterator[None]:
        """Hold the claim on ``key`` for the block; the block is the only writer completing it.

        Raises:
            PreconditionFailedError: the key was written by another writer while we waited.
            TransferFailedError: the claim stayed with another live writer for over ``claim_ttl``.
        """
        claim = self._acquire(bucket, key)
        try:
            yield
        finally:
            self._release(bucket, claim)

    def _acquire(self, bucket: str, key: str) -> Claim:
        name = claim_key(self._config, key)
        body = f"{uuid.uuid4().hex} pid={os.getpid()} host={socket.gethostname()}".encode()
        deadline = time.monotonic() + self._config.claim_ttl + 2 * LONGEST_WAIT
        wait = FIRST_WAIT
        while True:
            etag = self._put(bucket, name, body, IfNoneMatch="*")
            if etag is not None:
                return Claim(name, etag)
            if key_exists(self._client, bucket, key):
                raise PreconditionFailedError(f"s3://{bucket}/{key} was written by another writer first",
                                              bucket=bucket, key=key, operation="CompleteMultipartUpload",
                                              code="PreconditionFailed")
            stale = self._stale_etag(bucket, name)
            if stale is not None:
                etag = self._put(bucket, name, body, IfMatch=stale)
                if etag is not None:
                    logger.warning("took over a stale commit claim s3://%s/%s", bucket, name)
                    return Claim(name, etag)
            if time.monotonic() > deadline:
                raise TransferFailedError(f"s3://{bucket}/{key} is being completed by another writer that has "
                                          f"held s3://{bucket}/{name} for over {self._config.claim_ttl:.0f} s",
                                          bucket=bucket, key=key, operation="CompleteMultipartUpload")
            time.sleep(wait)
            wait = min(2 * wait, LONGEST_WAIT)

    def _put(self, bucket: str, name: str, body: bytes, **condition: str) -> str | None:
        """Write the claim under ``condition``; return its ETag, or None when another writer holds it."""
        try:
            response = self._client.put_object(Bucket=bucket, Key=name, Body=body,
                                               **self._config.encryption_args(), **condition)
        except ClientError as exc:
            if http_status(exc) not in LOST_RACE:
                raise
            return self._own_earlier_write(bucket, name, body) if was_retried(exc) else None
        etag: str = response["ETag"]
        return etag

    def _own_earlier_write(self, bucket: str, name: str, body: bytes) -> str | None:
        """After a retried claim PUT lost: return the claim's ETag if the claim there is ours."""
        try:
            response = self._client.get_object(Bucket=bucket, Key=name)
        except ClientError as exc:
            if http_status(exc) == 404:
                return None
            raise
        etag: str = response["ETag"]
        return etag if response["Body"].read() == body else None

    def _head(self, bucket: str, name: str) -> dict[str, Any] | None:
        try:
            response: dict[str, Any] = self._client.head_object(Bucket=bucket, Key=name)
        except ClientError as exc:
            if http_status(exc) == 404:
                return None
            raise
        return response

    def _stale_etag(self, bucket: str, name: str) -> str | None:
        """Return the claim's ETag when it is older than ``claim_ttl`` by the server's clock, else None."""
        head = self._head(bucket, name)
        if head is None:
            return None
        now = parsedate_to_datetime(head["ResponseMetadata"]["HTTPHeaders"]["date"])
        age = (now - head["LastModified"]).total_seconds()
        return str(head["ETag"]) if age > self._config.claim_ttl else None

    def _release(self, bucket: str, claim: Claim) -> None:
        """Delete our claim, unless a waiter has taken it over; a failure is logged, not raised."""
        try:
            self._client.delete_object(Bucket=bucket, Key=claim.key, IfMatch=claim.etag)
        except ClientError as exc:
            if http_status(exc) in (404, *LOST_RACE):
                logger.warning("commit claim s3://%s/%s was taken over before its release", bucket, claim.key)
            else:
                logger.warning("could not release commit claim s3://%s/%s; it expires after %.0f s",
                               bucket, claim.key, self._config.claim_ttl, exc_info=True)
