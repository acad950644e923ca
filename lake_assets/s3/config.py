"""Transfer configuration: one frozen, validated object that says what every knob costs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

MiB = 1024 * 1024
GiB = 1024 * MiB

#: S3's smallest part (all but the last) and largest part of a multipart upload.
MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = 5 * GiB
#: S3's largest part count for one multipart upload.
MAX_PARTS = 10_000
#: SigV4 presigned URLs are valid for at most seven days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600

#: Environment variables searched, in order, for a CA bundle when ``ca_bundle`` is not set.
CA_BUNDLE_ENV_VARS = ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")

EncryptionType = Literal["AES256", "aws:kms"]
AddressingStyle = Literal["auto", "path", "virtual"]
Engine = Literal["crt", "classic"]


@dataclass(frozen=True)
class S3TransferConfig:
    """How the :class:`~lake_assets.s3.S3Handler` talks to S3.

    Defaults match ProgridPy's ``S3TransferConfig``; the fields after ``existence_check_threshold``
    are additions for S3-compatible endpoints, explicit credentials, SSE-KMS and progress output.

    Attributes:
        region: Region used for the client and for SigV4 signing.
        max_pool_connections: HTTP connections kept open. Raised to at least twice ``max_concurrency``
            when the client is built, because file workers and part workers both hold connections.
        max_concurrency: Worker threads for objects, and again for the parts of large objects; on the
            ``"crt"`` engine, twice the connections a large download's parts use (parts of twice
            ``multipart_chunksize``, at most two connections per core). Memory in flight is at most
            ``max_concurrency * multipart_chunksize`` bytes per pool.
        multipart_threshold: Objects larger than this move in parts (one request per part, plus two
            to create and complete an upload); an object of exactly one part is one PUT, not three
            requests.
        multipart_chunksize: Bytes per part. Raised automatically when a file would need more than
            10,000 parts.
        retry_attempts: Retries after the first attempt of each request (botocore adaptive mode, which
            also rate-limits the client when the server throttles). Permanent errors are never retried.
        enable_encryption: Ask for server-side encryption on every object written.
        encryption_type: ``"AES256"`` (SSE-S3) or ``"aws:kms"`` (SSE-KMS).
        existence_check_threshold: Below this many keys, existence is checked with one HEAD per key;
            from it upwards, with LIST pages (1,000 keys per request) over the keys' common prefixes.
        endpoint_url: S3-compatible endpoint; ``None`` means AWS.
        access_key_id: Explicit access key; ``None`` uses the standard credential chain
            (environment, ``AWS_PROFILE``/``AWS_DEFAULT_PROFILE``, config files, instance roles).
        secret_access_key: Secret for ``access_key_id``. Never shown in ``repr``.
        session_token: Optional session token for temporary credentials. Never shown in ``repr``.
        profile: Named profile; ``None`` lets botocore read ``AWS_PROFILE``/``AWS_DEFAULT_PROFILE``.
        kms_key_id: KMS key for ``encryption_type="aws:kms"``; ``None`` uses the bucket's default key.
        bucket_key_enabled: Use an S3 Bucket Key with SSE-KMS (cuts KMS requests by up to 99%).
        addressing_style: ``"path"`` for servers without virtual-host buckets (SeaweedFS, MinIO).
        ca_bundle: PEM bundle to verify TLS with; falls back to ``AWS_CA_BUNDLE``,
            ``REQUESTS_CA_BUNDLE`` then ``SSL_CERT_FILE`` when the client is built.
        use_ssl: Use HTTPS for AWS's own endpoint (``endpoint_url=None``); an explicit ``endpoint_url``
            says its scheme itself.
        verify_tls: Verify the server's TLS certificate. Turn off only for a test server with a
            self-signed certificate; prefer ``ca_bundle``.
        unsigned: Send requests unsigned (anonymous), for public buckets; no credentials are looked up.
        connect_timeout: Seconds to wait for a TCP connection.
        read_timeout: Seconds to wait on a socket read; on the crt engine, how long one request (an upload
            of up to ``multipart_threshold`` bytes, a download's tail of ``multipart_chunksize``, a part of
            a large download, twice that) may take to complete before it is cancelled and retried as a
            network error: the CRT reports no byte before that. A link slower than 8 MiB per
            ``read_timeout`` (140 KB/s at the defaults; a large download: its parts in flight, 4 of 16 MiB
            on two cores) needs a longer ``read_timeout`` or the classic engine.
        show_progress: Draw rich progress bars for batch transfers.
        engine: ``"crt"`` sends every single-request transfer of a batch (uploads up to
            ``multipart_threshold``, and every range of a download) through the AWS Common Runtime,
            whose C event loops spend a fraction of botocore's CPU per request; multipart uploads
            and single-object calls stay on boto3. ``"classic"`` keeps everything on boto3 threads
            (needed where the CRT cannot go, such as moto's in-process mock).
        max_in_flight: Requests the CRT engine keeps in flight at once.
        claim_prefix: Where a conditional multipart upload keeps its commit claim (a small object
            ``<claim_prefix><key>`` that lives only while the upload completes; see
            :mod:`lake_assets.s3.claims`). Costs one PUT and one DELETE per multipart object written
            with ``overwrite=False``.
        claim_ttl: Seconds after which a claim is taken to be left by a writer that died while
            completing, and is taken over. A completion must finish within it.
    """

    region: str = "us-west-2"
    max_pool_connections: int = 50
    max_concurrency: int = 20
    multipart_threshold: int = 8 * MiB
    multipart_chunksize: int = 8 * MiB
    retry_attempts: int = 3
    enable_encryption: bool = True
    encryption_type: EncryptionType = "AES256"
    existence_check_threshold: int = 256
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    profile: str | None = None
    kms_key_id: str | None = None
    bucket_key_enabled: bool = False
    addressing_style: AddressingStyle = "auto"
    ca_bundle: str | None = None
    use_ssl: bool = True
    verify_tls: bool = True
    unsigned: bool = False
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    show_progress: bool = True
    engine: Engine = "crt"
    max_in_flight: int = 64
    claim_prefix: str = ".lake-claims/"
    claim_ttl: float = 300.0

    def __post_init__(self) -> None:
        for name in ("max_pool_connections", "max_concurrency", "multipart_threshold",
                     "existence_check_threshold", "max_in_flight"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.retry_attempts < 0:
            raise ValueError(f"retry_attempts must be 0 or more, got {self.retry_attempts}")
        if not MIN_PART_SIZE <= self.multipart_chunksize <= MAX_PART_SIZE:
            raise ValueError(
                f"multipart_chunksize must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes "
                f"(S3's part size limits), got {self.multipart_chunksize}"
            )
        if self.encryption_type not in ("AES256", "aws:kms"):
            raise ValueError(f"encryption_type must be 'AES256' or 'aws:kms', got {self.encryption_type!r}")
        if self.kms_key_id and self.encryption_type != "aws:kms":
            raise ValueError("kms_key_id is only used with encryption_type='aws:kms'")
        if self.addressing_style not in ("auto", "path", "virtual"):
            raise ValueError(f"addressing_style must be auto, path or virtual, got {self.addressing_style!r}")
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("access_key_id and secret_access_key must be given together")
        if self.unsigned and self.access_key_id is not None:
            raise ValueError("unsigned requests take no access key")
        if self.endpoint_url is not None and not self.endpoint_url.startswith(("http://", "https://")):
            raise ValueError(f"endpoint_url must start with http:// or https://, got {self.endpoint_url!r}")
        if self.engine not in ("crt", "classic"):
            raise ValueError(f"engine must be 'crt' or 'classic', got {self.engine!r}")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ValueError("connect_timeout and read_timeout must be positive")
        if self.claim_ttl <= 0:
            raise ValueError(f"claim_ttl must be positive, got {self.claim_ttl}")
        if not self.claim_prefix.endswith("/") or self.claim_prefix.startswith("/"):
            raise ValueError(f"claim_prefix must end with '/' and not start with one, got {self.claim_prefix!r}")
        if self.ca_bundle is not None and not Path(self.ca_bundle).is_file():
            raise ValueError(f"ca_bundle {self.ca_bundle!r} is not a file")

    @property
    def pool_size(self) -> int:
        """Connections the client keeps: never fewer than the requests that can be in flight."""
        return max(self.max_pool_connections, 2 * self.max_concurrency)

    @property
    def default_endpoint(self) -> str:
        """The endpoint requests go to: ``endpoint_url``, else AWS's regional one (HTTPS unless ``use_ssl`` is off)."""
        scheme = "https" if self.use_ssl else "http"
        return self.endpoint_url or f"{scheme}://s3.{self.region}.amazonaws.com"

    def resolve_ca_bundle(self) -> str | None:
        """Return the CA bundle to verify TLS with, from the field or the environment (in that order).

        Raises:
            ValueError: if the bundle named by an environment variable does not exist.
        """
        if self.ca_bundle is not None:
            return self.ca_bundle
        for var in CA_BUNDLE_ENV_VARS:
            value = os.environ.get(var)
            if value:
                if not Path(value).is_file():
                    raise ValueError(f"{var}={value!r} does not name a CA bundle file")
                return value
        return None

    def encryption_args(self) -> dict[str, Any]:
        """Return the SSE request parameters for PutObject, CreateMultipartUpload and CopyObject."""
        if not self.enable_encryption:
            return {}
        args: dict[str, Any] = {"ServerSideEncryption": self.encryption_type}
        if self.encryption_type == "aws:kms":
            if self.kms_key_id:
                args["SSEKMSKeyId"] = self.kms_key_id
            if self.bucket_key_enabled:
                args["BucketKeyEnabled"] = True
        return args

    def part_size_for(self, size: int) -> int:
        """Return the part size for an object of ``size`` bytes, so that it needs at most 10,000 parts."""
        part = self.multipart_chunksize
        while -(-size // part) > MAX_PARTS:
            part *= 2
        return min(part, MAX_PART_SIZE)
