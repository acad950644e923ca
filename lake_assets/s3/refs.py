"""Value objects the transfer layer takes and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

#: What a batch reports as done or skipped: keys for uploads, local paths for downloads.
Item = TypeVar("Item", str, Path)


@dataclass(frozen=True)
class S3ObjectRef:
    """An S3 key paired with the local file it is uploaded from or downloaded to.

    ``metadata`` (uploads only) is stored as the object's user metadata (``x-amz-meta-*``).
    """

    key: str
    local_path: Path
    metadata: dict[str, str] | None = field(default=None, hash=False)


@dataclass(frozen=True)
class ObjectInfo:
    """What S3 says about one object, from a HEAD or a LIST entry.

    ``etag`` has its quotes stripped. ``metadata``, ``content_type`` and the encryption fields are
    only known from a HEAD; a LIST entry leaves them empty.
    """

    key: str
    size: int
    etag: str
    last_modified: datetime
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    server_side_encryption: str | None = None
    kms_key_id: str | None = None

    @classmethod
    def from_head(cls, key: str, response: dict[str, Any]) -> ObjectInfo:
        """Build from a ``head_object`` response."""
        return cls(
            key=key,
            size=int(response["ContentLength"]),
            etag=response["ETag"].strip('"'),
            last_modified=response["LastModified"],
            content_type=response.get("ContentType"),
            metadata=dict(response.get("Metadata", {})),
            server_side_encryption=response.get("ServerSideEncryption"),
            kms_key_id=response.get("SSEKMSKeyId"),
        )

    @classmethod
    def from_listing(cls, entry: dict[str, Any]) -> ObjectInfo:
        """Build from one ``Contents`` entry of a ``list_objects_v2`` page."""
        return cls(
            key=entry["Key"],
            size=int(entry["Size"]),
            etag=entry["ETag"].strip('"'),
            last_modified=entry["LastModified"],
        )


@dataclass(frozen=True)
class TransferFailure:
    """One object a batch could not move, and why."""

    key: str
    local_path: Path | None
    error: Exception


@dataclass(frozen=True)
class BatchResult(Generic[Item]):
    """What one batch call did: the objects done and skipped, and every failure with its reason.

    ``done`` and ``skipped`` hold keys for an upload and local paths for a download, in the order
    the objects were given.
    """

    done: list[Item]
    skipped: list[Item]
    failures: list[TransferFailure]

    @property
    def failed(self) -> list[Path]:
        """The local paths of the objects that failed."""
        return [failure.local_path for failure in self.failures if failure.local_path is not None]

    def as_tuple(self) -> tuple[list[Item], list[Item], list[Path]]:
        """The seed's ``(done, skipped, failed)`` tuple."""
        return self.done, self.skipped, self.failed

    def raise_first_failure(self) -> None:
        """Raise the first failure's error (an :class:`~lake_assets.s3.S3Error`, or ``FileNotFoundError``)."""
        if self.failures:
            raise self.failures[0].error
