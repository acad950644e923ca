"""Settings mistakes on AWS's behaviour (moto with IAM authentication on): `lake config --check` names each one in a
line, and a run fails at once on it, naming the bucket and the endpoint, with no step retries and nothing written.
The same mistakes on SeaweedFS: cli/test_settings_cli.py and defs/test_lake.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import dagster as dg
import pytest
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from lake_assets.cli import main
from lake_assets.cli.sample import vendor_file
from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.orchestration.factory import build_dataset_defs
from lake_assets.orchestration.resources import S3TransferResource
from lake_assets.orchestration.settings import resource_env
from lake_assets.s3 import S3Handler, S3TransferConfig
from lake_assets_tests.orchestration.test_lake import JAN, assets, with_resources

REGION = "us-east-1"
VENDOR, LAKE = "vendor-bucket", "lake-bucket"
#: What each identity may do: the lake's writer, and one that may only read and list.
POLICIES = {"writer": ["s3:*"], "reader": ["s3:GetObject", "s3:ListBucket"]}
#: The requests that set up the buckets and the identities before moto starts checking every request.
SETUP_REQUESTS = 2 + 3 * len(POLICIES)

Keys = tuple[str, str]


@pytest.fixture
def aws(moto_environment: None, no_lake_settings: None) -> Iterator[None]:
    """An in-memory AWS with no profile or CA bundle from the machine."""
    with mock_aws():
        yield


def identities() -> dict[str, Keys]:
    """Create the two buckets and an IAM user per policy (:data:`SETUP_REQUESTS` requests); return their keys."""
    s3, iam = boto3.client("s3", region_name=REGION), boto3.client("iam", region_name=REGION)
    for bucket in (VENDOR, LAKE):
        s3.create_bucket(Bucket=bucket)
    keys = {}
    for user, actions in POLICIES.items():
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
    return keys


def config(keys: Keys) -> S3TransferConfig:
    return S3TransferConfig(region=REGION, access_key_id=keys[0], secret_access_key=keys[1], engine="classic",
                            show_progress=False)


def listing(keys: Keys, bucket: str) -> list[tuple[str, str]]:
    with S3Handler(config(keys)) as s3:
        return [(info.key, info.etag) for info in s3.iter_objects(bucket)]


def mistaken(keys: dict[str, Keys], mistake: str) -> tuple[str, Keys]:
    """The lake's bucket and keys with one mistake in them."""
    writer_id, writer_secret = keys["writer"]
    return {"none": (LAKE, keys["writer"]), "missing-bucket": ("no-such-bucket", keys["writer"]),
            "wrong-key-id": (LAKE, ("AKIAWRONGWRONGWRONG0", writer_secret)),
            "wrong-secret": (LAKE, (writer_id, "wrong-secret")),
            "read-only-identity": (LAKE, keys["reader"])}[mistake]


MISTAKES = {
    "none": "LAKE_S3: s3://lake-bucket at AWS: reached, listed, written and deleted",
    "missing-bucket": "bucket s3://no-such-bucket does not exist at AWS",
    "wrong-key-id": "The AWS Access Key Id you provided does not exist in our records. "
                    "(check the access key, secret and profile)",
    "wrong-secret": "The request signature we calculated does not match the signature you provided. Check your key "
                    "and signing method. (check the access key, secret and profile)",
    "read-only-identity": "PutObject s3://lake-bucket/.lake-config-probe failed: Access Denied "
                          "(the identity lacks permission for this operation)",
}


@pytest.mark.parametrize("mistake", MISTAKES)
@set_initial_no_auth_action_count(SETUP_REQUESTS)
def test_config_check_names_each_mistake_in_a_line(aws: None, mistake: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    keys = identities()
    bucket, (key_id, secret) = mistaken(keys, mistake)
    vendor = resource_env("VENDOR_S3", VENDOR, config(keys["reader"]))
    lake = resource_env("LAKE_S3", bucket, config((key_id, secret)))
    for name, value in {**vendor, **lake}.items():
        monkeypatch.setenv(name, value)
    before = listing(keys["writer"], LAKE)
    code = main(["config", "--check", "--env-file", str(tmp_path / "none.env")])
    out = " ".join(capsys.readouterr().out.split())  # rich folds long lines
    assert MISTAKES[mistake] in out
    assert "VENDOR_S3: s3://vendor-bucket at AWS: reached, listed" in out  # the reader may read
    assert code == (0 if mistake == "none" else 2)
    assert listing(keys["writer"], LAKE) == before  # the probe leaves nothing behind
    assert "Traceback" not in out


@pytest.mark.parametrize("mistake", [name for name in MISTAKES if name != "none"])
@set_initial_no_auth_action_count(SETUP_REQUESTS)
def test_a_run_fails_at_once_on_each_mistake_naming_bucket_and_endpoint(aws: None, mistake: str,
                                                                         tmp_path: Path) -> None:
    keys = identities()
    with S3Handler(config(keys["writer"])) as vendor:
        vendor.put_bytes(VENDOR, DAY_AGGS.source.key(JAN[0]), vendor_file(DAY_AGGS, JAN[0]))
    bucket, (key_id, secret) = mistaken(keys, mistake)

    def resource(bucket: str, keys: Keys, prefix: str) -> S3TransferResource:
        return S3TransferResource(bucket=bucket, region_name=REGION, aws_access_key_id=keys[0],
                                  aws_secret_access_key=keys[1], engine="classic", env_prefix=prefix)

    resources = {"vendor_s3": resource(VENDOR, keys["reader"], "VENDOR_S3"),
                 "lake_s3": resource(bucket, (key_id, secret), "LAKE_S3")}
    began = time.monotonic()
    result = dg.materialize(assets(with_resources(build_dataset_defs(DAY_AGGS), resources)),
                            partition_key="2024-01-02", resources=resources,
                            instance=dg.DagsterInstance.local_temp(str(tmp_path)), raise_on_error=False)
    assert not result.success and time.monotonic() - began < 15  # no step retries (20 s, then 40 s)
    assert not [event for event in result.all_events if event.event_type_value == "STEP_RESTARTED"]
    failure = next(event for event in result.all_events if event.is_step_failure).step_failure_data
    description = failure.user_failure_data.description if failure.user_failure_data else failure.error.message
    if mistake == "read-only-identity":  # the bucket answers: the first write is refused, and not retried
        assert description.startswith(f"CopyObject s3://{LAKE}/{DAY_AGGS.raw.key(JAN[0])} failed: Access Denied "
                                      "(the identity lacks permission for this operation)")
    else:  # found when the resource opens, before any request of the step
        assert description.startswith(f"LAKE_S3: s3://{bucket} at AWS: ")
        assert MISTAKES[mistake] in " ".join(description.split())
    assert listing(keys["writer"], LAKE) == []
