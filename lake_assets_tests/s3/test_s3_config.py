"""S3TransferConfig: seed defaults, validation at construction, SSE arguments, CA bundle resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from lake_assets.s3 import S3TransferConfig
from lake_assets.s3.config import MiB


def test_defaults_match_the_seed() -> None:
    config = S3TransferConfig()
    assert (config.region, config.max_pool_connections, config.max_concurrency) == ("us-west-2", 50, 20)
    assert config.multipart_threshold == config.multipart_chunksize == 8 * MiB
    assert (config.retry_attempts, config.enable_encryption, config.encryption_type) == (3, True, "AES256")
    assert config.existence_check_threshold == 256
    assert config.endpoint_url is None


@pytest.mark.parametrize("kwargs", [
    {"max_concurrency": 0},
    {"max_pool_connections": 0},
    {"multipart_threshold": 0},
    {"existence_check_threshold": 0},
    {"retry_attempts": -1},
    {"multipart_chunksize": 1 * MiB},
    {"encryption_type": "aws:kmx"},
    {"kms_key_id": "k"},
    {"addressing_style": "sideways"},
    {"access_key_id": "AK"},
    {"endpoint_url": "127.0.0.1:9000"},
    {"read_timeout": 0},
    {"ca_bundle": "/nonexistent/ca.pem"},
    {"claim_ttl": 0},
    {"claim_prefix": ".lake-claims"},
    {"claim_prefix": "/claims/"},
])
def test_invalid_values_fail_at_construction(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        S3TransferConfig(**kwargs)  # type: ignore[arg-type]


def test_encryption_args() -> None:
    assert S3TransferConfig().encryption_args() == {"ServerSideEncryption": "AES256"}
    assert S3TransferConfig(enable_encryption=False).encryption_args() == {}
    kms = S3TransferConfig(encryption_type="aws:kms", kms_key_id="alias/lake", bucket_key_enabled=True)
    assert kms.encryption_args() == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/lake",
                                     "BucketKeyEnabled": True}


def test_secrets_stay_out_of_repr() -> None:
    text = repr(S3TransferConfig(access_key_id="AKID", secret_access_key="s3cr3t", session_token="t0ken"))
    assert "AKID" in text and "s3cr3t" not in text and "t0ken" not in text


def test_pool_never_smaller_than_in_flight_requests() -> None:
    assert S3TransferConfig(max_concurrency=64, max_pool_connections=10).pool_size == 128
    assert S3TransferConfig().pool_size == 50


def test_part_size_grows_to_stay_within_10000_parts() -> None:
    config = S3TransferConfig()
    assert config.part_size_for(100 * MiB) == 8 * MiB
    huge = 200_000 * MiB
    part = config.part_size_for(huge)
    assert -(-huge // part) <= 10_000 and part == 32 * MiB


def test_ca_bundle_falls_back_to_environment_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a.pem", tmp_path / "b.pem"
    first.write_text("x")
    second.write_text("y")
    for var in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(var, raising=False)
    assert S3TransferConfig().resolve_ca_bundle() is None
    monkeypatch.setenv("SSL_CERT_FILE", str(second))
    assert S3TransferConfig().resolve_ca_bundle() == str(second)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(first))
    assert S3TransferConfig().resolve_ca_bundle() == str(first)
    assert S3TransferConfig(ca_bundle=str(second)).resolve_ca_bundle() == str(second)
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="AWS_CA_BUNDLE"):
        S3TransferConfig().resolve_ca_bundle()
