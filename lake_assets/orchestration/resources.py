"""The Dagster resource wrapping the transfer layer; configuration only, nothing built at import."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster_aws.s3.resources import ResourceWithS3Configuration
from pydantic import Field, field_validator

from lake_assets.orchestration.settings import (
    ADDRESSING_STYLES,
    ENGINES,
    SETTINGS,
    SSE_MODES,
    SettingError,
    check_choice,
    describe_place,
    resolve_settings,
    transfer_config,
)
from lake_assets.s3 import (
    AccessDeniedError,
    BucketNotFoundError,
    InvalidCredentialsError,
    S3Handler,
    S3TransferConfig,
)

#: The fields a ``<env_prefix>_*`` variable may set.
_EFFECTIVE_FIELDS = tuple(setting.field for setting in SETTINGS.values())
#: Failures of the identity or bucket: no step retry helps; the sensors' healing retries the request later.
SETUP_ERRORS = (AccessDeniedError, InvalidCredentialsError, BucketNotFoundError)


def _one_of(field: str, value: Any, choices: tuple[str, ...]) -> Any:
    """Pass ``None`` (unset) and an ``EnvVar`` through (it is resolved at launch, then checked again); reject other
    strings not in ``choices``."""
    return value if value is None or isinstance(value, dg.EnvVar) else check_choice(field, value, choices)


class S3TransferResource(ResourceWithS3Configuration):
    """One bucket on one S3 endpoint, reached through :class:`~lake_assets.s3.S3Handler`.

    The connection fields are dagster-aws's own (``region_name``, ``endpoint_url``, ``profile_name``,
    ``aws_access_key_id``, ``aws_secret_access_key``, ``aws_session_token``, ``max_attempts``, ``use_ssl``,
    ``verify``, ``use_unsigned_session``), so a resource configured for ``dagster_aws.s3.S3Resource``
    configures this one the same way; the rest say which bucket, how it is encrypted and how transfers
    run. Every field may be an ``EnvVar``; ``None`` or an empty string means "not set" (AWS's endpoint, the
    standard credential chain), so one set of variables serves both the embedded server and AWS. The settings
    rule (:func:`~lake_assets.orchestration.settings.resolve_settings`): a field set here wins; with
    ``env_prefix``, a field left unset takes its ``<env_prefix>_*`` variable, read when the resource is used,
    so only the bucket must be set; what neither sets takes the transfer layer's default
    (:class:`~lake_assets.s3.S3TransferConfig`). ``sse``,
    ``addressing_style`` and ``engine`` accept only their listed values: a typo fails at launch with the
    choices, never silently becomes another mode. (They are strings rather than ``Literal`` fields
    because Dagster fills only str, int and bool fields from an ``EnvVar``.)

    The vendor's source and the lake are two instances of this resource: they may differ in endpoint,
    credentials and encryption.
    """

    bucket: str = Field(description="Bucket name.")
    max_attempts: int | None = Field(default=None, description=(
        "Attempts per request, the first included (botocore adaptive retries); unset: <env_prefix>_MAX_ATTEMPTS, "
        "then the transfer layer's default."))
    sse: str | None = Field(default=None, description="Server-side encryption: AES256, aws:kms or none; unset: "
                                                      "<env_prefix>_SSE, then AES256.")
    kms_key_id: str | None = Field(default=None, description="KMS key for sse=aws:kms; unset: <env_prefix>_KMS_KEY_ID, "
                                                             "then the bucket's default key.")
    addressing_style: str | None = Field(default=None, description="auto, path (SeaweedFS, MinIO) or virtual; unset: "
                                                                   "<env_prefix>_ADDRESSING_STYLE, then auto.")
    max_concurrency: int | None = Field(default=None, description=(
        "Objects in flight per batch, and parts in flight per large object; unset: <env_prefix>_MAX_CONCURRENCY, "
        "then the transfer layer's default."))
    engine: str | None = Field(default=None, description=(
        "crt (single-request transfers on the AWS Common Runtime) or classic (boto3); unset: <env_prefix>_ENGINE, "
        "then crt."))
    max_in_flight: int | None = Field(default=None, description=(
        "Requests the crt engine keeps in flight; unset: <env_prefix>_MAX_IN_FLIGHT, then the transfer layer's "
        "default."))
    env_prefix: str = Field(default="", description=(
        "When set, the optional <env_prefix>_* variables (ENDPOINT_URL, REGION, SSE, ...) are read at run time "
        "for the fields left unset here; empty or missing ones leave them to the defaults."))

    @field_validator("sse", mode="before")
    @classmethod
    def _sse(cls, value: Any) -> Any:
        return _one_of("sse", value, SSE_MODES)

    @field_validator("addressing_style", mode="before")
    @classmethod
    def _addressing_style(cls, value: Any) -> Any:
        return _one_of("addressing_style", value, ADDRESSING_STYLES)

    @field_validator("engine", mode="before")
    @classmethod
    def _engine(cls, value: Any) -> Any:
        return _one_of("engine", value, ENGINES)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Fail a run or tick that would use a mistyped setting at once, with the variable named, never retried."""
        try:
            self.transfer_config()
        except SettingError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None

    def settings(self) -> dict[str, Any]:
        """Return the fields in effect now: this resource's own, then its ``<env_prefix>_*`` variables for those it
        leaves unset (:func:`~lake_assets.orchestration.settings.resolve_settings`).

        Raises:
            SettingError: a variable holds a value it cannot take (the message names it).
        """
        return resolve_settings(self.env_prefix, {name: getattr(self, name) for name in _EFFECTIVE_FIELDS},
                                os.environ)

    def transfer_config(self) -> S3TransferConfig:
        """Return the transfer layer's config for this resource (progress bars off: logs are not a terminal)."""
        try:
            return transfer_config(self.settings(), use_ssl=self.use_ssl, verify_tls=self.verify is not False,
                                   unsigned=self.use_unsigned_session)
        except SettingError as exc:
            raise SettingError(f"{self.env_prefix or 'S3 resource'}: {exc}") from exc

    @contextmanager
    def open(self) -> Iterator[S3Handler]:
        """Yield a ready handler for the duration of one asset or sensor evaluation, once its bucket answered.

        A missing bucket, rejected keys or a denied identity fail the run or tick at once, naming the
        bucket, the endpoint and the variables' prefix, and are never retried as a step: waiting does not
        create a bucket (the sensors' healing retries the request later, after the settings are fixed).
        """
        with S3Handler(self.transfer_config()) as handler:
            try:
                handler.check_bucket(self.bucket)
            except SETUP_ERRORS as exc:
                place = describe_place(self.env_prefix or "S3 resource", self.bucket, handler.config.endpoint_url)
                raise dg.Failure(description=f"{place}: {exc}", allow_retries=False) from exc
            yield handler

    def shares_store_with(self, other: S3TransferResource) -> bool:
        """Return whether a server-side copy from ``other`` can work: same endpoint, region and identity."""
        identity = ("endpoint_url", "region_name", "profile_name", "aws_access_key_id")
        mine, theirs = self.settings(), other.settings()
        return all(mine.get(name) == theirs.get(name) for name in identity)


def s3_resource_from_env(prefix: str) -> S3TransferResource:
    """Return a resource configured at run time by ``<prefix>_*`` environment variables.

    ``<prefix>_BUCKET`` is required (an ``EnvVar``: Dagster names it when it is missing); the optional
    variables of :data:`~lake_assets.orchestration.settings.SETTINGS` are read when the resource is used.
    """
    return S3TransferResource(bucket=dg.EnvVar(f"{prefix}_BUCKET"), env_prefix=prefix)
