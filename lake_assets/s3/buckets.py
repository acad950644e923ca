"""One check per bucket and handler, so a missing bucket or rejected keys fail a batch once, clearly."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from lake_assets.s3.client import ClientSource, ClientUser
from lake_assets.s3.config import S3TransferConfig
from lake_assets.s3.errors import BucketNotFoundError, S3Error
from lake_assets.s3.stats import TransferStatistics
from lake_assets.s3.translate import classify, http_status

if TYPE_CHECKING:
    from lake_assets.s3.crt import CrtClient


class CheckedBuckets(ClientUser):
    """Remembers which buckets answered a HeadBucket; asks each one once.

    With the CRT engine (``crt`` gives its client, None without), the HeadBucket goes through the CRT, so a
    fresh process whose batch the CRT moves never builds a boto3 client (about 70 ms); any answer but 200 is
    asked again through ``client``, whose errors say what is wrong.
    """

    def __init__(self, client: ClientSource, config: S3TransferConfig, crt: Callable[[], CrtClient | None],
                 stats: TransferStatistics) -> None:
        self._client_source = client
        self._config = config
        self._crt = crt
        self._stats = stats
        self._checked: set[str] = set()

    def ensure(self, bucket: str) -> None:
        """Fail fast, once per bucket, if the bucket is missing or the credentials are rejected.

        HEAD responses carry no error code, so a 403 or 400 is asked again as a one-key LIST, whose
        body says whether the key, the signature or the permission is at fault. A bucket that lists is
        reachable: an identity allowed to list but refused the HEAD (moto asks for an ``s3:HeadBucket``
        permission that AWS does not have) passes.

        Raises:
            S3Error: ``BucketNotFoundError``, ``InvalidCredentialsError``, ``AccessDeniedError`` or
                ``EndpointUnreachableError``, naming the bucket and the endpoint.
        """
        if bucket in self._checked or self._crt_answers(bucket):
            self._checked.add(bucket)
            return
        try:
            self._client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if http_status(exc) == 404:
                raise BucketNotFoundError(
                    f"bucket s3://{bucket} does not exist at {self._config.endpoint_url or 'AWS'} "
                    "(create it or check its name and the endpoint)", bucket=bucket,
                    operation="HeadBucket", code="NoSuchBucket") from exc
            self._explain_head_bucket_failure(bucket, exc)
        except S3Error:
            raise
        except Exception as exc:
            raise classify(exc, operation="HeadBucket", bucket=bucket) from exc
        self._checked.add(bucket)

    def _crt_answers(self, bucket: str) -> bool:
        """Whether a HeadBucket sent through the CRT, when it is used, answered 200."""
        crt = self._crt()
        if crt is None:
            return False
        self._stats.on_request("HeadBucket", retry=False)
        return crt.head_bucket(bucket) == 200

    def _explain_head_bucket_failure(self, bucket: str, head_error: ClientError) -> None:
        """Raise what a one-key LIST says is wrong; return if the bucket lists after all."""
        try:
            self._client.list_objects_v2(Bucket=bucket, MaxKeys=1)
        except ClientError as exc:
            raise classify(exc, operation="HeadBucket", bucket=bucket) from head_error
