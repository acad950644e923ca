"""The transfer layer: boto3 only, no Dagster.

``S3Handler`` moves many objects at once between local files and S3 with one shared client,
server-side encryption, race-free ``overwrite=False`` (conditional writes), atomic downloads,
retries and progress bars; ``S3TransferConfig`` says how. The API follows ProgridPy's handler.
"""

from lake_assets.s3.client import resolve_credentials
from lake_assets.s3.config import S3TransferConfig
from lake_assets.s3.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    CorruptObjectError,
    EndpointUnreachableError,
    InvalidCredentialsError,
    ObjectNotFoundError,
    PreconditionFailedError,
    S3Error,
    TransferFailedError,
)
from lake_assets.s3.handler import S3Handler
from lake_assets.s3.hive import extract_date_from_hive_path
from lake_assets.s3.progress import NoProgress, ProgressFactory, ProgressListener
from lake_assets.s3.refs import BatchResult, ObjectInfo, S3ObjectRef, TransferFailure

__all__ = [
    "AccessDeniedError",
    "BatchResult",
    "BucketNotFoundError",
    "CorruptObjectError",
    "EndpointUnreachableError",
    "InvalidCredentialsError",
    "NoProgress",
    "ObjectNotFoundError",
    "ObjectInfo",
    "PreconditionFailedError",
    "ProgressFactory",
    "ProgressListener",
    "S3Error",
    "S3Handler",
    "S3ObjectRef",
    "S3TransferConfig",
    "TransferFailedError",
    "TransferFailure",
    "extract_date_from_hive_path",
    "resolve_credentials",
]
