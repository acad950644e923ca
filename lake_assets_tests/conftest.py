"""Shared fixtures: moto for fast unit tests, one embedded SeaweedFS per test session for the real thing,
and vendor and lake resources on it with a way to publish vendor files."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import dagster as dg
import pytest
from moto import mock_aws

from lake_assets.cli.sample import vendor_file
from lake_assets.lake.datasets import DatasetSpec
from lake_assets.local_s3 import EmbeddedS3, free_ports
from lake_assets.local_s3.server import LOCAL_REGION
from lake_assets.orchestration.io_manager import LakeParquetIOManager
from lake_assets.orchestration.resources import S3TransferResource
from lake_assets.orchestration.settings import PREFIXES, SETTINGS
from lake_assets.s3 import S3TransferConfig

MOTO_BUCKET = "unit-bucket"


@pytest.fixture
def moto_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS profile or CA bundle from the machine, and the placeholder keys moto's boto3 clients sign with."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.fixture
def moto_config(moto_environment: None) -> Iterator[S3TransferConfig]:
    """A config for an in-memory moto S3 holding the empty bucket :data:`MOTO_BUCKET`."""
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=MOTO_BUCKET)
        yield S3TransferConfig(region="us-east-1", show_progress=False, engine="classic")


@pytest.fixture
def no_lake_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No VENDOR_S3_*, LAKE_S3_* or DAGSTER_HOME in the environment, and any the test sets removed after it.

    (``monkeypatch.delenv`` alone forgets a variable that did not exist, so one the code under test sets
    would outlive the test.)
    """
    names = [f"{prefix}_{suffix}" for prefix in PREFIXES for suffix in ("BUCKET", *SETTINGS)] + ["DAGSTER_HOME"]
    for name in names:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedS3]:
    """The embedded SeaweedFS on free loopback ports, beside any instance a developer runs."""
    server = EmbeddedS3(tmp_path_factory.mktemp("seaweed"), free_ports(), memory_limit="2GiB")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def bucket(seaweed: EmbeddedS3) -> str:
    """A fresh, empty bucket on the embedded server."""
    name = f"t-{uuid.uuid4().hex[:16]}"
    seaweed.ensure_buckets(name)
    return name


@pytest.fixture
def sw_config(seaweed: EmbeddedS3) -> S3TransferConfig:
    """A config for the embedded server as its admin identity, without progress bars."""
    return seaweed.transfer_config(show_progress=False)


def write_files(root: Path, sizes: dict[str, int], seed: int = 0) -> dict[str, Path]:
    """Write one file per key under ``root`` with deterministic bytes of the given size."""
    import random

    rng = random.Random(seed)
    paths = {}
    for key, size in sizes.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))
        paths[key] = path
    return paths


@pytest.fixture
def lake(seaweed: EmbeddedS3, bucket: str) -> dict[str, S3TransferResource]:
    """Vendor and lake resources on the embedded server, each with its own fresh bucket."""
    vendor_bucket = bucket + "-v"
    seaweed.ensure_buckets(vendor_bucket)
    keys = seaweed.credentials()

    def resource(name: str) -> S3TransferResource:
        return S3TransferResource(bucket=name, endpoint_url=seaweed.endpoint_url, region_name=LOCAL_REGION,
                                  aws_access_key_id=keys.access_key_id,
                                  aws_secret_access_key=keys.secret_access_key, addressing_style="path")

    return {"vendor_s3": resource(vendor_bucket), "lake_s3": resource(bucket)}


@pytest.fixture
def resources(lake: dict[str, S3TransferResource]) -> dict[str, object]:
    """The lake's resources with its IO manager, as the code location binds them."""
    return {**lake, "io_manager": LakeParquetIOManager(lake_s3=lake["lake_s3"])}


def publish(resources: dict[str, S3TransferResource], spec: DatasetSpec, days: list[date],
            data: bytes | None = None) -> None:
    with resources["vendor_s3"].open() as vendor:
        for day in days:
            vendor.put_bytes(resources["vendor_s3"].bucket, spec.source.key(day),
                             vendor_file(spec, day) if data is None else data, overwrite=True)


def check_outcomes(evaluations: Iterable[dg.AssetCheckEvaluation]) -> dict[tuple[str, str | None], dict[str, Any]]:
    """Each check's outcome by (check, partition), read from the concern results that list them, with its
    concern's name and severity: what the UI shows under a concern's result (a range run's summaries list none)."""
    return {(name, evaluation.partition): {**outcome, "concern": evaluation.check_name,
                                           "severity": evaluation.severity}
            for evaluation in evaluations
            if "checks" in evaluation.metadata for name, outcome in evaluation.metadata["checks"].value.items()}
