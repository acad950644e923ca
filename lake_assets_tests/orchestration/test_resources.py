"""S3TransferResource: dagster-aws's connection fields, configuration from the environment at run time,
empty meaning "not set", the transfer layer's defaults, and bad choices refused with the choices named."""

from __future__ import annotations

import os
import re
from pathlib import Path

import dagster as dg
import pytest

from lake_assets.orchestration.resources import S3TransferResource, s3_resource_from_env
from lake_assets.orchestration.settings import SettingError, resource_env, settings_from_env, settings_table
from lake_assets.s3 import S3TransferConfig


def test_environment_round_trip(monkeypatch: pytest.MonkeyPatch, no_lake_settings: None) -> None:
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


def _uses_the_lake() -> dg.AssetsDefinition:
    @dg.asset
    def uses_the_lake(lake_s3: S3TransferResource) -> None:
        """Never fails on its own: the resource's settings are what is tested."""
        lake_s3.transfer_config()

    return uses_the_lake


def test_a_mistyped_choice_from_the_environment_fails_at_launch_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch, no_lake_settings: None) -> None:
    monkeypatch.setenv("LAKE_S3_BUCKET", "lake")
    monkeypatch.setenv("LAKE_S3_SSE", "aws-kms")
    monkeypatch.setenv("LAKE_S3_MAX_CONCURRENCY", "ten")
    resource = s3_resource_from_env("LAKE_S3")  # read when the run starts, not here

    result = dg.materialize([_uses_the_lake()], resources={"lake_s3": resource}, raise_on_error=False)
    assert not result.success
    failure = next(event for event in result.all_events if event.event_type_value == "RESOURCE_INIT_FAILURE")
    assert ("LAKE_S3_SSE must be one of AES256, aws:kms, none; got 'aws-kms'; "
            "LAKE_S3_MAX_CONCURRENCY must be a whole number; got 'ten'") in str(failure.event_specific_data.error)


def test_only_the_bucket_is_required(monkeypatch: pytest.MonkeyPatch, no_lake_settings: None) -> None:
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LAKE_S3_BUCKET", "lake")
    resolved = s3_resource_from_env("LAKE_S3").process_config_and_initialize()
    assert resolved.transfer_config() == S3TransferConfig(show_progress=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert resolved.transfer_config().region == "eu-central-1"
    monkeypatch.setenv("AWS_REGION", "eu-west-3")  # AWS_REGION first, as botocore and the AWS SDKs read them
    assert resolved.transfer_config().region == "eu-west-3"
    monkeypatch.setenv("LAKE_S3_REGION", "ap-south-1")
    monkeypatch.setenv("LAKE_S3_ENGINE", "classic")
    assert (resolved.transfer_config().region, resolved.transfer_config().engine) == ("ap-south-1", "classic")


def test_a_missing_bucket_is_named_by_dagster_before_anything_runs(no_lake_settings: None) -> None:
    with pytest.raises(dg.DagsterInvalidConfigError, match='environment variable "LAKE_S3_BUCKET" which is not set'):
        dg.materialize([_uses_the_lake()], resources={"lake_s3": s3_resource_from_env("LAKE_S3")})


@pytest.mark.parametrize(("variables", "message"), [
    ({"LAKE_S3_ENDPOINT_URL": "127.0.0.1:9000"}, "LAKE_S3_ENDPOINT_URL must start with http:// or https://"),
    ({"LAKE_S3_ACCESS_KEY_ID": "AK"}, "LAKE_S3_ACCESS_KEY_ID and LAKE_S3_SECRET_ACCESS_KEY must be set together"),
    ({"LAKE_S3_MAX_IN_FLIGHT": "0"}, "LAKE_S3_MAX_IN_FLIGHT must be at least 1; got '0'"),
    ({"LAKE_S3_ADDRESSING_STYLE": "Path"}, "LAKE_S3_ADDRESSING_STYLE must be one of auto, path, virtual"),
    ({"LAKE_S3_KMS_KEY_ID": "alias/k"}, "kms_key_id is only used with encryption_type='aws:kms'"),
])
def test_each_wrong_setting_is_one_message_naming_it(variables: dict[str, str], message: str,
                                                     no_lake_settings: None) -> None:
    resource = S3TransferResource(bucket="lake", env_prefix="LAKE_S3")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in variables.items():
            patch.setenv(name, value)
        with pytest.raises(SettingError, match=re.escape(message)):
            resource.transfer_config()


def test_settings_written_for_a_config_read_back_as_it(monkeypatch: pytest.MonkeyPatch) -> None:
    config = S3TransferConfig(endpoint_url="http://127.0.0.1:9", region="eu-west-1", access_key_id="AK",
                              secret_access_key="s", session_token="t", encryption_type="aws:kms",
                              kms_key_id="alias/k", addressing_style="path", engine="classic", max_concurrency=7)
    written = resource_env("VENDOR_S3", "vendor", config)
    assert settings_from_env("VENDOR_S3", written) == {
        "endpoint_url": "http://127.0.0.1:9", "region_name": "eu-west-1", "aws_access_key_id": "AK",
        "aws_secret_access_key": "s", "aws_session_token": "t", "sse": "aws:kms", "kms_key_id": "alias/k",
        "addressing_style": "path", "engine": "classic", "max_concurrency": 7}
    assert resource_env("VENDOR_S3", "vendor", S3TransferConfig()) == {
        "VENDOR_S3_BUCKET": "vendor", "VENDOR_S3_REGION": "us-west-2"}  # defaults are left out


def test_the_readmes_variable_table_is_the_settings_registry() -> None:
    """The README's Configuration table is rendered from the registry the resources and ``lake config`` read, so a
    variable, its meaning or its default cannot drift between them."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert settings_table() in readme, f"paste this table into README.md, Configuration:\n{settings_table()}"
    defaults = S3TransferConfig()
    assert f"| `MAX_CONCURRENCY` | objects and parts in flight per batch | {defaults.max_concurrency} |" in readme


def test_a_field_set_on_the_resource_wins_over_its_variable_and_a_field_left_unset_takes_it(
        monkeypatch: pytest.MonkeyPatch, no_lake_settings: None) -> None:
    """The settings rule, as a Dagster user expects it: explicit config, then the environment, then the defaults."""
    monkeypatch.setenv("LAKE_S3_SSE", "none")
    monkeypatch.setenv("LAKE_S3_MAX_CONCURRENCY", "7")
    built = S3TransferResource(bucket="lake", env_prefix="LAKE_S3", sse="aws:kms").transfer_config()
    assert (built.encryption_type, built.enable_encryption, built.max_concurrency) == ("aws:kms", True, 7)
    assert S3TransferResource(bucket="lake", env_prefix="LAKE_S3").transfer_config().enable_encryption is False
    defaults = S3TransferConfig()
    monkeypatch.delenv("LAKE_S3_MAX_CONCURRENCY")
    assert S3TransferResource(bucket="lake", env_prefix="LAKE_S3").transfer_config().max_concurrency == (
        defaults.max_concurrency)
