"""Dagster resources wrapping the transfer layer; configuration only, nothing built at import."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import Field

from lake_assets.s3 import S3Handler, S3TransferConfig


class S3TransferResource(dg.ConfigurableResource):
    """One bucket on one S3 endpoint, reached through :class:`~lake_assets.s3.S3Handler`.

    The vendor's source and the lake are two instances of this resource: they may differ in
    endpoint, credentials and encryption. Every string field may be an ``EnvVar``; an empty value
    means "not set" (AWS endpoint, the standard credential chain), so one set of variables serves
    both the embedded server and AWS.
    """

    bucket: str = Field(description="Bucket name.")
    endpoint_url: str = Field(default="", description="S3-compatible endpoint; empty for AWS.")
    region: str = Field(default="us-east-1", description="Region used to sign requests.")
    profile: str = Field(default="", description="Named AWS profile; empty for the standard chain.")
    access_key_id: str = Field(default="", description="Access key; empty for the standard chain.")
    secret_access_key: str = Field(default="", description="Secret key; set it with an EnvVar only.")
    sse: str = Field(default="AES256", description="Server-side encryption: AES256, aws:kms or none.")
    kms_key_id: str = Field(default="", description="KMS key for sse=aws:kms; empty for the bucket default.")
    max_concurrency: int = Field(default=16, description="Parallel transfers per handler.")
    addressing_style: str = Field(default="auto", description="auto, path (SeaweedFS, MinIO) or virtual.")

    def transfer_config(self) -> S3TransferConfig:
        """Return the transfer layer's config for this resource (progress bars off: logs are not a terminal)."""
        return S3TransferConfig(
            region=self.region,
            endpoint_url=self.endpoint_url or None,
            profile=self.profile or None,
            access_key_id=self.access_key_id or None,
            secret_access_key=self.secret_access_key or None,
            enable_encryption=self.sse != "none",
            encryption_type="aws:kms" if self.sse == "aws:kms" else "AES256",
            kms_key_id=self.kms_key_id or None,
            max_concurrency=self.max_concurrency,
            max_pool_connections=max(self.max_concurrency, 10),
            addressing_style=self.addressing_style,  # type: ignore[arg-type]
            show_progress=False,
        )

    @contextmanager
    def open(self) -> Iterator[S3Handler]:
        """Yield a ready handler for the duration of one asset or sensor evaluation."""
        with S3Handler(self.transfer_config()) as handler:
            yield handler

    def shares_store_with(self, other: S3TransferResource) -> bool:
        """Return whether a server-side copy from ``other`` can work: same endpoint, region and identity."""
        return (self.endpoint_url, self.region, self.profile, self.access_key_id) == (
            other.endpoint_url, other.region, other.profile, other.access_key_id)


def s3_resource_from_env(prefix: str) -> S3TransferResource:
    """Return a resource whose settings are read at run time from ``<prefix>_*`` environment variables.

    Variables: ``<prefix>_BUCKET``, ``_ENDPOINT_URL``, ``_REGION``, ``_PROFILE``,
    ``_ACCESS_KEY_ID``, ``_SECRET_ACCESS_KEY``, ``_SSE``, ``_KMS_KEY_ID``, ``_ADDRESSING_STYLE``
    (all must be set; empty values mean "not set") and ``_MAX_CONCURRENCY`` (an integer).
    """
    return S3TransferResource(
        bucket=dg.EnvVar(f"{prefix}_BUCKET"),
        endpoint_url=dg.EnvVar(f"{prefix}_ENDPOINT_URL"),
        region=dg.EnvVar(f"{prefix}_REGION"),
        profile=dg.EnvVar(f"{prefix}_PROFILE"),
        access_key_id=dg.EnvVar(f"{prefix}_ACCESS_KEY_ID"),
        secret_access_key=dg.EnvVar(f"{prefix}_SECRET_ACCESS_KEY"),
        sse=dg.EnvVar(f"{prefix}_SSE"),
        kms_key_id=dg.EnvVar(f"{prefix}_KMS_KEY_ID"),
        addressing_style=dg.EnvVar(f"{prefix}_ADDRESSING_STYLE"),
        max_concurrency=dg.EnvVar.int(f"{prefix}_MAX_CONCURRENCY"),
    )


def resource_env(prefix: str, bucket: str, config: S3TransferConfig) -> dict[str, str]:
    """Return the ``<prefix>_*`` variables that make :func:`s3_resource_from_env` reach ``bucket`` as ``config`` does."""
    return {
        f"{prefix}_BUCKET": bucket,
        f"{prefix}_ENDPOINT_URL": config.endpoint_url or "",
        f"{prefix}_REGION": config.region,
        f"{prefix}_PROFILE": config.profile or "",
        f"{prefix}_ACCESS_KEY_ID": config.access_key_id or "",
        f"{prefix}_SECRET_ACCESS_KEY": config.secret_access_key or "",
        f"{prefix}_SSE": config.encryption_type if config.enable_encryption else "none",
        f"{prefix}_KMS_KEY_ID": config.kms_key_id or "",
        f"{prefix}_ADDRESSING_STYLE": config.addressing_style,
        f"{prefix}_MAX_CONCURRENCY": str(config.max_concurrency),
    }
