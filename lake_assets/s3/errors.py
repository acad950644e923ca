"""Errors that say what happened, so callers catch meaning rather than botocore codes.

No botocore import here: a caller that only names or catches these errors (the ``lake`` command) does not pay for
botocore; :mod:`lake_assets.s3.translate` turns botocore's exceptions into them."""

from __future__ import annotations


class S3Error(Exception):
    """Base of every transfer-layer error; names the operation, bucket and key it concerns."""

    def __init__(self, message: str, *, bucket: str | None = None, key: str | None = None,
                 operation: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.bucket = bucket
        self.key = key
        self.operation = operation
        self.code = code


class BucketNotFoundError(S3Error):
    """The bucket does not exist (or this endpoint does not serve it)."""


class ObjectNotFoundError(S3Error):
    """The object does not exist."""


class AccessDeniedError(S3Error):
    """The credentials are valid but not allowed to do this."""


class InvalidCredentialsError(S3Error):
    """The credentials are missing, unknown, expired, or their secret is wrong."""


class PreconditionFailedError(S3Error):
    """A conditional request failed: the object already exists, or changed while being read."""


class EndpointUnreachableError(S3Error):
    """No connection could be made to the endpoint."""


class CorruptObjectError(S3Error):
    """The object's bytes are not what they claim to be (bad gzip, short body)."""


class TransferFailedError(S3Error):
    """Any other failure, after retries; the original exception is the ``__cause__``."""

