"""The transfer layer: boto3 only, no Dagster.

``S3Handler`` moves many objects at once between local files and S3 with one shared client,
server-side encryption, race-free ``overwrite=False`` (conditional writes), atomic downloads,
retries and progress bars; ``S3TransferConfig`` says how. The API follows ProgridPy's handler.

``S3Handler`` and ``resolve_credentials`` are imported on first use: naming a config or catching an error does not
import boto3 (the ``lake`` command answers ``--help`` without it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
from lake_assets.s3.hive import extract_date_from_hive_path
from lake_assets.s3.progress import NoProgress, ProgressFactory, ProgressListener
from lake_assets.s3.refs import BatchResult, ObjectInfo, S3ObjectRef, TransferFailure

if TYPE_CHECKING:
    from lake_assets.s3.client import resolve_credentials
    from lake_assets.s3.handler import S3Handler

#: What boto3 is needed for, and the module each comes from.
_ON_FIRST_USE = {"S3Handler": "lake_assets.s3.handler", "resolve_credentials": "lake_assets.s3.client"}

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


def __getattr__(name: str) -> Any:
    """Import :data:`_ON_FIRST_USE`'s names when first asked for."""
    if name not in _ON_FIRST_USE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_ON_FIRST_USE[name]), name)
    globals()[name] = value
    return value
