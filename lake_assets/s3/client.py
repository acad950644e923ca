"""Build the one boto3 client a handler shares between all its workers, and resolve what it signs with."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from urllib.parse import urlsplit

import boto3
import botocore.session
import botocore.utils
from botocore import UNSIGNED
from botocore.client import BaseClient
from botocore.config import Config
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import NoCredentialsError, ProfileNotFound
from botocore.loaders import Loader, create_loader
from botocore.utils import get_environ_proxies

from lake_assets.s3.config import S3TransferConfig
from lake_assets.s3.errors import InvalidCredentialsError
from lake_assets.s3.stats import TransferStatistics

#: Returns the credentials to sign with now; may return new ones on every call (rotated, refreshed).
CredentialSource = Callable[[], ReadOnlyCredentials]
#: Returns the handler's shared boto3 client, built on first use: a batch the CRT moves never needs one.
ClientSource = Callable[[], BaseClient]


class ClientUser:
    """What calls S3 through the handler's boto3 client (``_client_source``), asked for at each use."""

    _client_source: ClientSource

    @property
    def _client(self) -> BaseClient:
        """The handler's boto3 client, built when this first needs it."""
        return self._client_source()


_loader: Loader | None = None
#: Guards the shared model loader, which is built once per process on first use.
_loader_lock = threading.Lock()


def _shared_loader() -> Loader:
    """Return this process's botocore model loader, which caches the parsed service models.

    Loading the S3 model again for every session was most of a client's build time: 143 ms per
    client with a loader of its own, 19 ms with the shared one (see ``bench/RESULTS.md``).
    """
    global _loader
    with _loader_lock:
        if _loader is None:
            _loader = create_loader()
        return _loader


def parse_timestamp(value: str | int | float) -> datetime:
    """Parse a timestamp of an S3 response: ISO 8601 (a listing's ``LastModified``) with the standard library,
    anything else (a HEAD's RFC 822 header, an epoch) as botocore does.

    botocore parses every timestamp with ``dateutil``, about 0.3 ms each: for a listing of twenty years of
    daily objects, 1.8 of a sensor tick's 2.3 CPU seconds (``bench/sensor_tick.py``).
    """
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    return botocore.utils.parse_timestamp(value)


def _session(config: S3TransferConfig) -> boto3.session.Session:
    """Return a new session for the config's profile and region, reading the environment now."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _shared_loader())
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
    return boto3.session.Session(botocore_session=core, profile_name=config.profile, region_name=config.region)


@contextmanager
def _named_profile_errors() -> Iterator[None]:
    """Turn botocore's ProfileNotFound, raised when a session first reads its profile, into our error."""
    try:
        yield
    except ProfileNotFound as exc:
        raise InvalidCredentialsError(f"AWS profile {exc.kwargs.get('profile')!r} not found "
                                      "(check AWS_PROFILE / AWS_DEFAULT_PROFILE and ~/.aws/config)") from exc


def build_client(config: S3TransferConfig, stats: TransferStatistics) -> BaseClient:
    """Create an S3 client from ``config`` whose every request is counted in ``stats``.

    Credentials come from the config when given, else from boto3's standard chain, which honours
    ``AWS_PROFILE`` and ``AWS_DEFAULT_PROFILE``. The pool holds at least as many connections as can
    be in flight, so no connection is thrown away and re-opened under load.

    Raises:
        InvalidCredentialsError: if the named profile does not exist.
        ValueError: if a CA bundle named in the environment does not exist.
    """
    botocore_config = Config(
        region_name=config.region,
        signature_version=UNSIGNED if config.unsigned else "s3v4",
        max_pool_connections=config.pool_size,
        retries={"mode": "adaptive", "max_attempts": config.retry_attempts},
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        s3={"addressing_style": config.addressing_style},
    )
    verify = config.resolve_ca_bundle() if config.verify_tls else False
    with _named_profile_errors():
        client = _session(config).client(
            "s3",
            endpoint_url=config.endpoint_url,
            use_ssl=config.use_ssl,
            verify=verify,
            config=botocore_config,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            aws_session_token=config.session_token,
        )
    client.meta.events.register("before-call.s3", stats.on_before_call)
    client.meta.events.register("before-send.s3", stats.on_before_send)
    return client


def credential_source(config: S3TransferConfig) -> CredentialSource:
    """Return what gives the credentials to sign with at each call: the config's keys, or boto3's chain.

    From the chain (environment, profile, SSO, assume-role, web identity/IRSA, instance role), the
    callable is botocore's own ``get_frozen_credentials`` of one credentials object: temporary
    credentials are refreshed by botocore before they expire, exactly as a boto3 client refreshes
    them, so a signer that asks at every request never signs with expired keys.

    Raises:
        InvalidCredentialsError: no credentials were found, or the named profile does not exist.
    """
    if config.access_key_id is not None and config.secret_access_key is not None:
        static = ReadOnlyCredentials(config.access_key_id, config.secret_access_key, config.session_token)
        return lambda: static
    with _named_profile_errors():
        credentials = _session(config).get_credentials()
    if credentials is None:
        raise InvalidCredentialsError(str(NoCredentialsError()) + " (check the access key, secret and profile)")
    return credentials.get_frozen_credentials


def resolve_credentials(config: S3TransferConfig) -> ReadOnlyCredentials:
    """Return the credentials a client built from ``config`` signs with, frozen for this moment.

    Raises:
        InvalidCredentialsError: no credentials were found, or the named profile does not exist.
    """
    return credential_source(config)()


def environ_proxy(endpoint: str) -> str | None:
    """Return the proxy boto3 sends requests for ``endpoint`` through, from ``HTTP(S)_PROXY`` and ``NO_PROXY``."""
    return get_environ_proxies(endpoint).get(urlsplit(endpoint).scheme)
