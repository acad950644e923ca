"""S3TransferResource: configuration from the environment at run time, empty meaning "not set"."""

from __future__ import annotations

import pytest

from lake_assets.resources import S3TransferResource, resource_env, s3_resource_from_env
from lake_assets.s3 import S3TransferConfig


def test_environment_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    config = S3TransferConfig(endpoint_url="http://127.0.0.1:9", region="eu-west-1", access_key_id="AK",
                              secret_access_key="s3cr3t-value", addressing_style="path", max_concurrency=7)
    for name, value in resource_env("LAKE_S3", "lake", config).items():
        monkeypatch.setenv(name, value)
    resource = s3_resource_from_env("LAKE_S3")
    assert "s3cr3t-value" not in repr(resource)  # an EnvVar holds the variable's name until run time
    resolved = resource.process_config_and_initialize()
    built = resolved.transfer_config()
    assert (resolved.bucket, built.endpoint_url, built.region, built.access_key_id, built.secret_access_key) == (
        "lake", "http://127.0.0.1:9", "eu-west-1", "AK", "s3cr3t-value")
    assert (built.addressing_style, built.max_concurrency, built.encryption_args()) == (
        "path", 7, {"ServerSideEncryption": "AES256"})


def test_empty_values_mean_the_aws_defaults() -> None:
    built = S3TransferResource(bucket="b").transfer_config()
    assert built.endpoint_url is None and built.access_key_id is None and built.profile is None
    kms = S3TransferResource(bucket="b", sse="aws:kms", kms_key_id="alias/k").transfer_config()
    assert kms.encryption_args() == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/k"}
    assert S3TransferResource(bucket="b", sse="none").transfer_config().encryption_args() == {}


def test_server_side_copy_needs_the_same_store_and_identity() -> None:
    lake = S3TransferResource(bucket="lake", endpoint_url="http://a", access_key_id="AK")
    assert lake.shares_store_with(S3TransferResource(bucket="vendor", endpoint_url="http://a", access_key_id="AK"))
    assert not lake.shares_store_with(S3TransferResource(bucket="vendor", endpoint_url="http://b", access_key_id="AK"))
    assert not lake.shares_store_with(S3TransferResource(bucket="vendor", endpoint_url="http://a", access_key_id="X"))
