"""Build the one boto3 client a handler shares between all its workers."""

from __future__ import annotations

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ProfileNotFound

from lake_assets.s3.config import S3TransferConfig
from lake_assets.s3.errors import InvalidCredentialsError
from lake_assets.s3.stats import TransferStatistics


def build_client(config: S3TransferConfig, stats: TransferStatistics) -> BaseClient:
    """Create an S3 client from ``config`` whose every request is counted in ``stats``.

    Credentials come from the config when given, else from boto3's standard chain, which honours
    ``AWS_PROFILE`` and ``AWS_DEFAULT_PROFILE``. The pool holds at least as many connections as can
    be in flight, so no connection is thrown away and re-opened under load.

    Raises:
        InvalidCredentialsError: if the named profile does not exist.
        ValueError: if a CA bundle named in the environment does not exist.
    """
    try:
        session = boto3.session.Session(
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            aws_session_token=config.session_token,
            profile_name=config.profile,
            region_name=config.region,
        )
    except ProfileNotFound as exc:
        raise InvalidCredentialsError(f"AWS profile {exc.kwargs.get('profile')!r} not found "
                                      "(check AWS_PROFILE / AWS_DEFAULT_PROFILE and ~/.aws/config)") from exc
    botocore_config = Config(
        region_name=config.region,
        signature_version="s3v4",
        max_pool_connections=config.pool_size,
        retries={"mode": "adaptive", "max_attempts": config.retry_attempts},
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        s3={"addressing_style": config.addressing_style},
    )
    client = session.client(
        "s3",
        endpoint_url=config.endpoint_url,
        verify=config.resolve_ca_bundle(),
        config=botocore_config,
    )
    client.meta.events.register("before-call.s3", stats.on_before_call)
    client.meta.events.register("before-send.s3", stats.on_before_send)
    return client
