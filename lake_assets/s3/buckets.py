"""One check per bucket and handler, so a missing bucket or rejected keys fail a batch once, clearly."""

from __future__ import annotations

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from lake_assets.s3.config import S3TransferConfig
from lake_assets.s3.errors import BucketNotFoundError, S3Error
from lake_assets.s3.translate import classify, http_status


class CheckedBuckets:
    """Remembers which buckets answered a HeadBucket through ``client``; asks each one once."""

    def __init__(self, client: BaseClient, config: S3TransferConfig) -> None:
        self._client = client
        self._config = config
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
        if bucket in self._checked:
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

    def _explain_head_bucket_failure(self, bucket: str, head_error: ClientError) -> None:
        """Raise what a one-key LIST says is wrong; return if the bucket lists after all."""
        try:
            self._client.list_objects_v2(Bucket=bucket, MaxKeys=1)
        except ClientError as exc:
            raise classify(exc, operation="HeadBucket", bucket=bucket) from head_error
