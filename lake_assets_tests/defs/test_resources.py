"""S3TransferResource: dagster-aws's connection fields, configuration from the environment at run time,
empty meaning "not set", the transfer layer's defaults, and bad choices refused with the choices named."""

from __future__ import annotations

import dagster as dg
import pytest

from lake_assets.defs.resources import S3TransferResource, resource_env, s3_resource_from_env
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
    lake = S3TransferResource(bucket="lake", endpoint_url="http://a", aws_access_key_id="AK")
    assert lake.shares_store_with(S3TransferResource(bucket="vendor", endpoint_url="http://a", aws_access_key_id="AK"))
    assert not lake.shares_store_with(S3TransferResource(bucket="vendor", endpoint_url="http://b",
                                                         aws_access_key_id="AK"))
    assert not lake.shares_store_with(S3TransferResource(bucket="vendor", endpoint_url="http://a",
                                                         aws_access_key_id="X"))


def test_unset_fields_take_the_transfer_layers_defaults() -> None:
    built, defaults = S3TransferResource(bucket="b").transfer_config(), S3TransferConfig(show_progress=False)
    assert built == defaults


def test_dagster_aws_connection_fields_take_effect() -> None:
    built = S3TransferResource(bucket="b", region_name="eu-west-1", profile_name="p", max_attempts=6,
                               use_ssl=False, verify=False, aws_session_token="t", aws_access_key_id="AK",
                               aws_secret_access_key="s").transfer_config()
    assert (built.region, built.profile, built.retry_attempts, built.session_token) == ("eu-west-1", "p", 5, "t")
    assert (built.use_ssl, built.verify_tls, built.default_endpoint) == (
        False, False, "http://s3.eu-west-1.amazonaws.com")
    assert S3TransferResource(bucket="b", use_unsigned_session=True).transfer_config().unsigned


@pytest.mark.parametrize(("field", "typo"), [("sse", "aws-kms"), ("addressing_style", "paths"), ("engine", "crt2")])
def test_a_mistyped_choice_is_refused_with_the_choices(field: str, typo: str) -> None:
    with pytest.raises(ValueError, match=f"{field} must be one of .*got '{typo}'"):
        S3TransferResource(bucket="b", **{field: typo})


def test_a_mistyped_choice_from_the_environment_fails_at_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in resource_env("LAKE_S3", "lake", S3TransferConfig()).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LAKE_S3_SSE", "aws-kms")
    resource = s3_resource_from_env("LAKE_S3")  # an EnvVar is checked when it is resolved, at launch

    @dg.asset
    def uses_the_lake(lake_s3: S3TransferResource) -> None:
        """Never runs: the resource fails first."""

    result = dg.materialize([uses_the_lake], resources={"lake_s3": resource}, raise_on_error=False)
    assert not result.success
    assert "sse must be one of AES256, aws:kms, none; got 'aws-kms'" in str(result.all_events)
