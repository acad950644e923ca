"""One HTTP request per call on the AWS Common Runtime: C event loops, no GIL, little CPU per object.

boto3's own CRT path ignores ``endpoint_url``, so this drives ``awscrt.s3.S3Client`` directly and
names the endpoint in the ``Host`` header. The CRT's retries are switched off: every call here is
exactly one request, and :mod:`lake_assets.s3.crt_batch` retries and counts them itself.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit
from xml.etree import ElementTree

from awscrt import auth, http, io
from awscrt import s3 as crt_s3
from botocore.exceptions import ClientError

from lake_assets.s3.client import CredentialSource, credential_source, environ_proxy
from lake_assets.s3.config import S3TransferConfig

logger = logging.getLogger(__name__)

#: Statuses worth another attempt: throttling, server faults, timeouts and write races.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
_SSE_HEADERS = {
    "ServerSideEncryption": "x-amz-server-side-encryption",
    "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id",
    "BucketKeyEnabled": "x-amz-server-side-encryption-bucket-key-enabled",
}


@dataclass
class CrtResponse:
    """What one request came back with: a status and headers, or the network error that stopped it."""

    operation: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    error: BaseException | None = None
    error_body: bytes | None = None
    final: bool = False

    @property
    def ok(self) -> bool:
        """True when the server answered with a success status."""
        return self.error is None and self.status is not None and self.status < 300

    @property
    def retryable(self) -> bool:
        """True for a network error or a status that another attempt may cure, unless the CRT retried already."""
        return not self.final and (self.status is None or self.status in RETRYABLE_STATUSES)

    def as_exception(self, attempts: int) -> Exception:
        """Return the failure as botocore would raise it, so one error path serves both engines."""
        if self.status is None:
            return ConnectionError(f"{self.operation}: {self.error}")
        code, message = _error_fields(self.error_body)
        return ClientError({"Error": {"Code": code or str(self.status), "Message": message or ""},
                            "ResponseMetadata": {"HTTPStatusCode": self.status,
                                                 "RetryAttempts": attempts - 1}}, self.operation)


def _error_fields(body: bytes | None) -> tuple[str | None, str | None]:
    """Return the ``Code`` and ``Message`` of an S3 XML error body, when there is one."""
    if not body:
        return None, None
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None, None
    return root.findtext("Code"), root.findtext("Message")


def _delegate(credentials: CredentialSource) -> Callable[[], auth.AwsCredentials]:
    """Return the CRT's view of ``credentials``: asked again whenever the CRT signs, so rotated keys are used."""
    def current() -> auth.AwsCredentials:
        frozen = credentials()
        return auth.AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token)
    return current


class CrtClient:
    """A CRT S3 client for one endpoint and one identity; it lives as long as its handler.

    It signs through a delegate provider that asks ``credentials`` (boto3's chain, see
    :func:`~lake_assets.s3.client.credential_source`), so a batch that outlives role, SSO or IRSA
    credentials signs its later requests with the refreshed ones. awscrt's S3 client has no proxy
    setting: the handler does not use this client when a proxy applies to the endpoint.

    Uploads carry a CRC32 checksum in a trailer, computed in C and checked by the server, so the
    payload is not SHA-256-signed (``UNSIGNED-PAYLOAD``) and the integrity guarantee stays.
    """

    def __init__(self, config: S3TransferConfig, credentials: CredentialSource | None) -> None:
        parts = urlsplit(config.default_endpoint)
        self._netloc = parts.netloc
        self._virtual = config.addressing_style == "virtual" or (
            config.endpoint_url is None and config.addressing_style == "auto")
        # one event-loop group for the process, never torn down: a group per client shut down asynchronously after
        # its client and, once in a few hundred test runs, crashed a CRT thread (aws-c-s3#196, aws-c-io#536)
        bootstrap = io.ClientBootstrap.get_or_create_static_default()
        signing = None
        if credentials is not None:
            provider = auth.AwsCredentialsProvider.new_delegate(_delegate(credentials))
            signing = crt_s3.create_default_s3_signing_config(region=config.region, credential_provider=provider)
        tls: dict[str, Any] = {"tls_mode": crt_s3.S3RequestTlsMode.DISABLED}
        if parts.scheme == "https":
            options = io.TlsContextOptions()
            options.verify_peer = config.verify_tls
            ca_bundle = config.resolve_ca_bundle()
            if ca_bundle:
                options.override_default_trust_store_from_path(None, ca_bundle)
            tls = {"tls_mode": crt_s3.S3RequestTlsMode.ENABLED,
                   "tls_connection_options": io.ClientTlsContext(options).new_connection_options()}
        common = dict(bootstrap=bootstrap, region=config.region, signing_config=signing,
                      part_size=config.multipart_chunksize, multipart_upload_threshold=config.multipart_threshold,
                      max_active_connections_override=config.max_in_flight,
                      connect_timeout_ms=int(config.connect_timeout * 1000), **tls)
        self._client = crt_s3.S3Client(retry_config=crt_s3.S3RetryConfig(retry_mode=crt_s3.S3RetryMode.NONE),
                                       **common)
        part_size, connections = download_parts(config)
        self._parts_client_args = {**common, "retry_config": _part_retries(config.retry_attempts),
                                   "part_size": part_size, "max_active_connections_override": connections}
        self._parts_client: crt_s3.S3Client | None = None
        self._deadline = config.connect_timeout + config.read_timeout
        self._upload_checksum = crt_s3.S3ChecksumConfig(
            algorithm=crt_s3.S3ChecksumAlgorithm.CRC32, location=crt_s3.S3ChecksumLocation.TRAILER)

    def _address(self, bucket: str, key: str) -> tuple[str, str]:
        """Return the ``Host`` header and the path of ``key``, path-style unless virtual-hosted."""
        quoted = quote(key, safe="/~")
        if self._virtual:
            return f"{bucket}.{self._netloc}", f"/{quoted}"
        return self._netloc, f"/{bucket}/{quoted}"

    def put_file(self, bucket: str, key: str, path: Path, size: int, headers: dict[str, str],
                 on_done: Callable[[CrtResponse], None], on_progress: Callable[..., None]) -> crt_s3.S3Request:
        """PUT the file at ``path`` (``size`` bytes, at most one part) as ``key`` in one request; ``on_progress``
        hears of the bytes as they leave."""
        host, target = self._address(bucket, key)
        request = http.HttpRequest("PUT", target, http.HttpHeaders(
            [("Host", host), ("Content-Length", str(size)), *headers.items()]))
        return self._send(crt_s3.S3RequestType.PUT_OBJECT, "PutObject", request, on_done,
                          send_filepath=str(path), checksum_config=self._upload_checksum, on_progress=on_progress)

    def get_tail(self, bucket: str, key: str, length: int, path: Path, on_done: Callable[[CrtResponse], None],
                 on_progress: Callable[..., None]) -> crt_s3.S3Request:
        """GET the last ``length`` bytes of ``key`` (all of it when it is smaller) into ``path``, in one request.

        The response's ``Content-Range`` tells the object's size and where the tail starts, so one
        request downloads a small object whole and learns what a large one needs.
        """
        host, target = self._address(bucket, key)
        request = http.HttpRequest("GET", target, http.HttpHeaders([("Host", host), ("Range", f"bytes=-{length}")]))
        # DEFAULT, not GET_OBJECT: the range is one request already, and the CRT's part splitting
        # costs CPU per object (measured: 10% fewer GETs per second on 64 KiB objects).
        return self._send(crt_s3.S3RequestType.DEFAULT, "GetObject", request, on_done, recv_filepath=str(path),
                          on_progress=on_progress)

    def get_head(self, bucket: str, key: str, end: int, if_match: str, path: Path,
                 on_done: Callable[[CrtResponse], None], on_bytes: Callable[[int], None]) -> crt_s3.S3Request:
        """GET bytes ``0..end`` of ``key`` into ``path`` (created or truncated), the CRT splitting them into parts.

        The CRT sends the parts, writes each at its place in the file from its own buffers (no byte
        passes through Python) and retries a failed part up to ``retry_attempts`` times itself, so
        the response is final: :attr:`CrtResponse.retryable` is False. ``if_match`` pins every part
        to one version. ``on_bytes`` hears of the bytes as they arrive.
        """
        if self._parts_client is None:
            self._parts_client = crt_s3.S3Client(**self._parts_client_args)
        host, target = self._address(bucket, key)
        request = http.HttpRequest("GET", target, http.HttpHeaders(
            [("Host", host), ("Range", f"bytes=0-{end}"), ("If-Match", if_match)]))
        return self._send(crt_s3.S3RequestType.GET_OBJECT, "GetObject", request, on_done, client=self._parts_client,
                          final=True, recv_filepath=str(path), on_progress=lambda amount, **_: on_bytes(amount))

    def head_bucket(self, bucket: str) -> int | None:
        """Send a HeadBucket and wait for it; return its status, None if no answer came (a network error)."""
        return self._wait("HeadBucket", "HEAD", bucket, "")[0]

    def head_object(self, bucket: str, key: str) -> int | None:
        """Send a HeadObject and wait for it; return its status, None if no answer came (a network error)."""
        return self._wait("HeadObject", "HEAD", bucket, key)[0]

    def list_page(self, bucket: str, prefix: str, start_after: str | None,
                  token: str | None) -> tuple[int | None, bytes]:
        """Send one ListObjectsV2 request (keys URL-encoded in the answer) and wait; return its status and body."""
        query = {"list-type": "2", "encoding-type": "url", "prefix": prefix}
        if start_after:
            query["start-after"] = start_after
        if token:
            query["continuation-token"] = token
        return self._wait("ListObjectsV2", "GET", bucket, "", urlencode(sorted(query.items()), quote_via=quote))

    def _wait(self, operation: str, method: str, bucket: str, key: str,
              query: str = "") -> tuple[int | None, bytes]:
        """Send one request and wait for it, ``connect_timeout`` and ``read_timeout`` at most; return its status
        (None if no answer came in time) and its body."""
        host, target = self._address(bucket, key)
        if not key:
            target = target.rstrip("/") or "/"
        request = http.HttpRequest(method, f"{target}?{query}" if query else target,
                                   http.HttpHeaders([("Host", host)]))
        answered: list[CrtResponse] = []
        body = bytearray()
        sent = self._send(crt_s3.S3RequestType.DEFAULT, operation, request, answered.append,
                          on_body=lambda chunk, **_: body.extend(chunk))
        try:
            sent.finished_future.exception(timeout=self._deadline)
        except FutureTimeout:  # a stalled server: no answer, as a network error is none
            sent.cancel()
            sent.finished_future.exception()
            return None, b""
        return (answered[0].status if answered else None), bytes(body)

    def _send(self, kind: crt_s3.S3RequestType, operation: str, request: http.HttpRequest,
              on_done: Callable[[CrtResponse], None], client: crt_s3.S3Client | None = None, final: bool = False,
              **kwargs: Any) -> crt_s3.S3Request:
        response = CrtResponse(operation, final=final)

        def headers_arrived(status_code: int, headers: list[tuple[str, str]], **_: Any) -> None:
            response.status = status_code
            response.headers = {name.lower(): value for name, value in headers}

        def finished(error: BaseException | None = None, status_code: int | None = None,
                     error_body: bytes | None = None, **_: Any) -> None:
            response.error = error
            response.status = status_code or response.status
            response.error_body = error_body
            on_done(response)

        return (client or self._client).make_request(type=kind, operation_name=operation, request=request,
                                                      on_headers=headers_arrived, on_done=finished, **kwargs)


#: A large download's parts are this many times ``multipart_chunksize``, over as many times fewer connections.
DOWNLOAD_PART_CHUNKS = 2
#: Connections per core a large download's parts use at most: the CRT serves them from an event loop per core.
PART_CONNECTIONS_PER_CORE = 2


def download_parts(config: S3TransferConfig) -> tuple[int, int]:
    """Return the part size and the connections of a large download's parts: parts of
    :data:`DOWNLOAD_PART_CHUNKS` chunks over ``max_concurrency`` divided by as much, and at most
    :data:`PART_CONNECTIONS_PER_CORE` per core, so its memory in flight stays within
    ``max_concurrency * multipart_chunksize``.

    A Dagster run is a new process: every part buffer costs a page fault per 4 KiB the first time it
    fills, and every request costs the server CPU besides the bytes. On two cores the server shares, a
    fresh process's 1 GiB GET reached 0.85-0.90 of s5cmd in parts of 8 MiB over 8 or 20 connections
    (20: twice the faults), and 0.92-0.94 in parts of 16 MiB over 4, the server spending 12% less CPU
    (bench/RESULTS.md, "Issue 32, second part"). Larger parts also pay S3's first-byte latency half as
    often; four cores and more get ``max_concurrency / 2`` connections (10).
    """
    connections = min(config.max_concurrency // DOWNLOAD_PART_CHUNKS, PART_CONNECTIONS_PER_CORE * (os.cpu_count() or 1))
    return config.multipart_chunksize * DOWNLOAD_PART_CHUNKS, max(1, connections)


def _part_retries(attempts: int) -> crt_s3.S3RetryConfig:
    """The CRT's own retries of each part: ``attempts`` of them (0 means none, where the CRT reads 0 as 5)."""
    if attempts == 0:
        return crt_s3.S3RetryConfig(retry_mode=crt_s3.S3RetryMode.NONE)
    return crt_s3.S3RetryConfig(max_retries=attempts)


def write_headers(config: S3TransferConfig, overwrite: bool, metadata: dict[str, str] | None) -> dict[str, str]:
    """Return the encryption, condition and metadata headers of a PUT, as the CRT sends them."""
    headers = {_SSE_HEADERS[name]: str(value).lower() if isinstance(value, bool) else str(value)
               for name, value in config.encryption_args().items()}
    if not overwrite:
        headers["If-None-Match"] = "*"
    for name, value in (metadata or {}).items():
        headers[f"x-amz-meta-{name}"] = value
    return headers


def crt_usable(config: S3TransferConfig) -> bool:
    """Whether batches may run on the CRT: the ``"crt"`` engine is chosen and no proxy covers the endpoint.

    awscrt's S3 client cannot use a proxy, so when ``HTTP(S)_PROXY`` applies to the endpoint
    (``NO_PROXY`` respected) a warning says the batches run on the classic engine, which honours it.
    """
    if config.engine != "crt":
        return False
    proxy = environ_proxy(config.default_endpoint)
    if proxy is not None:
        logger.warning("requests to %s go through the proxy %s (HTTP(S)_PROXY): the crt engine cannot use a proxy, "
                       "so this handler's batches run on the classic engine", config.default_endpoint, proxy)
    return proxy is None


def crt_client_for(config: S3TransferConfig) -> CrtClient:
    """Build the CRT client for ``config``, signing with its keys or boto3's refreshing credential chain."""
    return CrtClient(config, None if config.unsigned else credential_source(config))
