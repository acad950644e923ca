"""The Dagster resource wrapping the transfer layer; configuration only, nothing built at import."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, get_args

import dagster as dg
from dagster_aws.s3.resources import ResourceWithS3Configuration
from pydantic import Field, field_validator

from lake_assets.s3 import S3Handler, S3TransferConfig
from lake_assets.s3.config import AddressingStyle, Engine

#: The ``sse`` settings: SSE-S3, SSE-KMS, or no encryption header.
SSE_MODES = ("AES256", "aws:kms", "none")
_DEFAULTS = S3TransferConfig()


def _one_of(field: str, value: Any, choices: tuple[str, ...]) -> Any:
    """Pass an ``EnvVar`` through (it is resolved at launch, then checked again); reject other strings not in ``choices``."""
    if isinstance(value, dg.EnvVar) or value in choices:
        return value
    raise ValueError(f"{field} must be one of {', '.join(choices)}; got {value!r}")


class S3TransferResource(ResourceWithS3Configuration):
    """One bucket on one S3 endpoint, reached through :class:`~lake_assets.s3.S3Handler`.

    The connection fields are dagster-aws's own (``region_name``, ``endpoint_url``, ``profile_name``,
    ``aws_access_key_id``, ``aws_secret_access_key``, ``aws_session_token``, ``max_attempts``, ``use_ssl``,
    ``verify``, ``use_unsigned_session``), so a resource configured for ``dagster_aws.s3.S3Resource``
    configures this one the same way; the rest say which bucket, how it is encrypted and how transfers
    run. Every field may be an ``EnvVar``; an empty string means "not set" (AWS's endpoint, the standard
    credential chain), so one set of variables serves both the embedded server and AWS. Unset fields
    take the transfer layer's defaults (:class:`~lake_assets.s3.S3TransferConfig`). ``sse``,
    ``addressing_style`` and ``engine`` accept only their listed values: a typo fails at launch with the
    choices, never silently becomes another mode. (They are strings rather than ``Literal`` fields
    because Dagster fills only str, int and bool fields from an ``EnvVar``.)

    The vendor's source and the lake are two instances of this resource: they may differ in endpoint,
    credentials and encryption.
    """

    bucket: str = Field(description="Bucket name.")
    max_attempts: int = Field(default=_DEFAULTS.retry_attempts + 1,
                              description="Attempts per request, the first included (botocore adaptive retries).")
    sse: str = Field(default="AES256", description="Server-side encryption: AES256, aws:kms or none.")
    kms_key_id: str = Field(default="", description="KMS key for sse=aws:kms; empty for the bucket's default key.")
    addressing_style: str = Field(default=_DEFAULTS.addressing_style,
                                  description="auto, path (SeaweedFS, MinIO) or virtual.")
    max_concurrency: int = Field(default=_DEFAULTS.max_concurrency,
                                 description="Objects in flight per batch, and parts in flight per large object.")
    engine: str = Field(default=_DEFAULTS.engine,
                        description="crt (single-request transfers on the AWS Common Runtime) or classic (boto3).")
    max_in_flight: int = Field(default=_DEFAULTS.max_in_flight, description="Requests the crt engine keeps in flight.")

    @field_validator("sse", mode="before")
    @classmethod
    def _sse(cls, value: Any) -> Any:
        return _one_of("sse", value, SSE_MODES)

    @field_validator("addressing_style", mode="before")
    @classmethod
    def _addressing_style(cls, value: Any) -> Any:
        return _one_of("addressing_style", value, get_args(AddressingStyle))

    @field_validator("engine", mode="before")
    @classmethod
    def _engine(cls, value: Any) -> Any:
        return _one_of("engine", value, get_args(Engine))

    def transfer_config(self) -> S3TransferConfig:
        """Return the transfer layer's config for this resource (progress bars off: logs are not a terminal)."""
        settings: dict[str, Any] = {
            "region": self.region_name, "endpoint_url": self.endpoint_url, "profile": self.profile_name,
            "access_key_id": self.aws_access_key_id, "secret_access_key": self.aws_secret_access_key,
            "session_token": self.aws_session_token, "kms_key_id": self.kms_key_id,
        }
        return S3TransferConfig(
            **{name: value for name, value in settings.items() if value},
            retry_attempts=self.max_attempts - 1,
            enable_encryption=self.sse != "none",
            encryption_type="aws:kms" if self.sse == "aws:kms" else "AES256",
            max_concurrency=self.max_concurrency,
            addressing_style=self.addressing_style,  # type: ignore[arg-type]
            engine=self.engine,  # type: ignore[arg-type]
            max_in_flight=self.max_in_flight,
            use_ssl=self.use_ssl,
            verify_tls=self.verify is not False,
            unsigned=self.use_unsigned_session,
            show_progress=False,
        )

    @contextmanager
    def open(self) -> Iterator[S3Handler]:
        """Yield a ready handler for the duration of one asset or sensor evaluation."""
        with S3Handler(self.transfer_config()) as handler:
            yield handler

    def shares_store_with(self, other: S3TransferResource) -> bool:
        """Return whether a server-side copy from ``other`` can work: same endpoint, region and identity."""
        return (self.endpoint_url, self.region_name, self.profile_name, self.aws_access_key_id) == (
            other.endpoint_url, other.region_name, other.profile_name, other.aws_access_key_id)


def s3_resource_from_env(prefix: str) -> S3TransferResource:
    """Return a resource whose settings are read at run time from ``<prefix>_*`` environment variables.

    Variables: ``<prefix>_BUCKET``, ``_ENDPOINT_URL``, ``_REGION``, ``_PROFILE``,
    ``_ACCESS_KEY_ID``, ``_SECRET_ACCESS_KEY``, ``_SSE``, ``_KMS_KEY_ID``, ``_ADDRESSING_STYLE``
    (all must be set; empty values mean "not set") and ``_MAX_CONCURRENCY`` (an integer).
    """
    return S3TransferResource(
        bucket=dg.EnvVar(f"{prefix}_BUCKET"),
        endpoint_url=dg.EnvVar(f"{prefix}_ENDPOINT_URL"),
        region_name=dg.EnvVar(f"{prefix}_REGION"),
        profile_name=dg.EnvVar(f"{prefix}_PROFILE"),
        aws_access_key_id=dg.EnvVar(f"{prefix}_ACCESS_KEY_ID"),
        aws_secret_access_key=dg.EnvVar(f"{prefix}_SECRET_ACCESS_KEY"),
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
