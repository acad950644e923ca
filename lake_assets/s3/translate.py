"""botocore's and the network's exceptions, read and turned into the :mod:`lake_assets.s3.errors` they mean."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from urllib3.exceptions import ProtocolError

from lake_assets.s3.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    EndpointUnreachableError,
    InvalidCredentialsError,
    ObjectNotFoundError,
    PreconditionFailedError,
    S3Error,
    TransferFailedError,
)

#: Exceptions raised while a response body streams in; botocore does not retry these, we do.
STREAM_ERRORS: tuple[type[BaseException], ...] = (
    ResponseStreamingError,
    IncompleteReadError,
    ReadTimeoutError,
    ConnectionClosedError,
    ProtocolError,
    ConnectionError,
)


_PERMANENT_CODES: dict[str, type[S3Error]] = {
    "NoSuchBucket": BucketNotFoundError,
    "NoSuchKey": ObjectNotFoundError,
    "AccessDenied": AccessDeniedError,
    "AllAccessDisabled": AccessDeniedError,
    "InvalidAccessKeyId": InvalidCredentialsError,
    "SignatureDoesNotMatch": InvalidCredentialsError,
    "ExpiredToken": InvalidCredentialsError,
    "InvalidToken": InvalidCredentialsError,
    "PreconditionFailed": PreconditionFailedError,
}
_STATUS_CLASSES: dict[int, type[S3Error]] = {
    403: AccessDeniedError,
    404: ObjectNotFoundError,
    412: PreconditionFailedError,
}
_HINTS: dict[type[S3Error], str] = {
    BucketNotFoundError: "create the bucket or check its name and the endpoint",
    InvalidCredentialsError: "check the access key, secret and profile",
    AccessDeniedError: "the identity lacks permission for this operation",
    EndpointUnreachableError: "check endpoint_url and that the server is running",
}


def error_code(exc: ClientError) -> str:
    """Return the S3 error code of ``exc``, falling back to its HTTP status as a string."""
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(error.get("Code") or status or "Unknown")


def http_status(exc: ClientError) -> int | None:
    """Return the HTTP status of ``exc``, if the server answered."""
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def is_precondition_failure(exc: BaseException) -> bool:
    """Return True for a 412: the object already exists (``If-None-Match: *``) or changed (``If-Match``)."""
    if isinstance(exc, PreconditionFailedError):
        return True
    return isinstance(exc, ClientError) and (http_status(exc) == 412 or error_code(exc) == "PreconditionFailed")


def was_retried(exc: ClientError) -> bool:
    """Return True when botocore sent the request more than once before this error came back."""
    return exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) > 0


def classify(exc: BaseException, *, operation: str, bucket: str | None, key: str | None = None) -> S3Error:
    """Turn a botocore or network exception into an :class:`S3Error` whose message names the target."""
    if isinstance(exc, S3Error):
        return exc
    target = f"s3://{bucket}/{key}" if key else f"s3://{bucket}"
    code: str | None = None
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = http_status(exc)
        cls = _PERMANENT_CODES.get(code) or _STATUS_CLASSES.get(status or 0, TransferFailedError)
        detail = exc.response.get("Error", {}).get("Message") or code
    elif isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        cls, detail = InvalidCredentialsError, str(exc)
    elif isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        cls, detail = EndpointUnreachableError, str(exc)
    else:
        cls, detail = TransferFailedError, f"{type(exc).__name__}: {exc}"
    hint = _HINTS.get(cls)
    message = f"{operation} {target} failed: {detail}" + (f" ({hint})" if hint else "")
    error = cls(message, bucket=bucket, key=key, operation=operation, code=code)
    error.__cause__ = exc
    return error


def is_bucket_wide(error: S3Error) -> bool:
    """Return True for errors that no other object of the same batch could escape."""
    return isinstance(error, (BucketNotFoundError, InvalidCredentialsError, EndpointUnreachableError))


@contextmanager
def translated(operation: str, bucket: str | None, key: str | None = None) -> Iterator[None]:
    """Re-raise any non-:class:`S3Error` exception of the block as the :class:`S3Error` it means."""
    try:
        yield
    except S3Error:
        raise
    except Exception as exc:
        raise classify(exc, operation=operation, bucket=bucket, key=key) from exc
