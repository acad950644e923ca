"""AWS realism on the embedded SeaweedFS: the CRT engine signs with credentials that rotate and expire
during a handler's life (botocore's chain, a ``credential_process`` profile), and a proxy in
``HTTP_PROXY`` carries every batch request (the handler falls back to the classic engine and says so)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from lake_assets.local_s3 import EmbeddedS3
from lake_assets.s3 import InvalidCredentialsError, S3Handler, S3ObjectRef, S3TransferConfig
from lake_assets_tests.conftest import write_files
from lake_assets_tests.faultproxy import FaultProxy

pytestmark = pytest.mark.integration

#: A credential_process: answers with the next key of keys.json, valid for five minutes, so botocore
#: (whose mandatory refresh starts ten minutes before expiry) asks it again at every signature.
_PROCESS = """
import datetime, json, pathlib, sys
folder = pathlib.Path(sys.argv[1])
keys = json.loads((folder / "keys.json").read_text())
count_file = folder / "count"
count = int(count_file.read_text()) if count_file.exists() else 0
count_file.write_text(str(count + 1))
key = keys[count % len(keys)]
expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
print(json.dumps({"Version": 1, "AccessKeyId": key["access_key_id"], "SecretAccessKey": key["secret_access_key"],
                  "Expiration": expiry.isoformat()}))
"""


@pytest.fixture
def rotating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seaweed: EmbeddedS3) -> Path:
    """A profile ``rotating`` whose credentials come from keys.json in the returned folder, one key per call."""
    folder = tmp_path / "process"
    folder.mkdir()
    (folder / "process.py").write_text(_PROCESS)
    (folder / "config").write_text(f"[profile rotating]\ncredential_process = {sys.executable} "
                                   f"{folder / 'process.py'} {folder}\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_PROFILE", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(folder / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-credentials"))
    return folder


def _use_keys(folder: Path, seaweed: EmbeddedS3, *identities: str) -> list[str]:
    keys = [seaweed.credentials(name) for name in identities]
    (folder / "keys.json").write_text(json.dumps([vars(key) for key in keys]))
    return [key.access_key_id for key in keys]


def _through(proxy: FaultProxy, seaweed: EmbeddedS3, **overrides: object) -> S3TransferConfig:
    return seaweed.transfer_config(show_progress=False, endpoint_url=proxy.endpoint_url, **overrides)


def test_keys_that_rotate_mid_batch_sign_the_crt_requests_as_they_come(
        rotating: Path, seaweed: EmbeddedS3, bucket: str, tmp_path: Path) -> None:
    admin, standby = _use_keys(rotating, seaweed, "admin", "standby")
    files = write_files(tmp_path / "up", {f"k/{i:02}": 20_000 for i in range(40)})
    with FaultProxy(seaweed.ports.s3, rate=0.0) as proxy, S3Handler(_through(
            proxy, seaweed, access_key_id=None, secret_access_key=None, profile="rotating")) as s3:
        uploaded = s3.upload_batch(bucket, [S3ObjectRef(key, path) for key, path in files.items()])
        downloaded = s3.download_batch(bucket, [S3ObjectRef(key, tmp_path / "down" / key) for key in files])
    assert (len(uploaded.done), len(downloaded.done), uploaded.failures, downloaded.failures) == (40, 40, [], [])
    assert all((tmp_path / "down" / key).read_bytes() == path.read_bytes() for key, path in files.items())
    assert proxy.keys[admin] >= 30 and proxy.keys[standby] >= 30  # 80 CRT requests, each key every other time


def test_a_batch_after_its_first_keys_expired_signs_with_the_refreshed_ones(
        rotating: Path, seaweed: EmbeddedS3, bucket: str, tmp_path: Path) -> None:
    admin, = _use_keys(rotating, seaweed, "admin")
    files = write_files(tmp_path / "up", {f"k/{i:02}": 20_000 for i in range(20)})
    refs = [S3ObjectRef(key, path) for key, path in files.items()]
    with FaultProxy(seaweed.ports.s3, rate=0.0) as proxy:
        with S3Handler(_through(proxy, seaweed, access_key_id=None, secret_access_key=None,
                                profile="rotating")) as s3:
            assert len(s3.upload_batch(bucket, refs[:10]).done) == 10
            _use_keys(rotating, seaweed, "standby")  # the role's next credentials
            proxy.expire(admin)  # and the first ones now expired
            later = s3.upload_batch(bucket, refs[10:])
        assert (len(later.done), later.failures, proxy.keys[f"{admin} refused"]) == (10, [], 0)
        with S3Handler(_through(proxy, seaweed)) as frozen, pytest.raises(InvalidCredentialsError):
            frozen.upload_batch(bucket, refs[:1], overwrite=True)  # the same keys, never refreshed: refused
    assert proxy.keys[f"{admin} refused"] >= 1


def test_a_proxy_in_the_environment_carries_every_batch_request(
        rotating: Path, seaweed: EmbeddedS3, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    files = write_files(tmp_path / "up", {f"k/{i:02}": 20_000 for i in range(20)})
    refs = [S3ObjectRef(key, path) for key, path in files.items()]
    with FaultProxy(seaweed.ports.s3, rate=0.0) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.endpoint_url)
        with caplog.at_level(logging.WARNING, logger="lake_assets.s3.handler"), S3Handler(
                seaweed.transfer_config(show_progress=False)) as s3:
            assert len(s3.upload_batch(bucket, refs).done) == 20
        assert "the crt engine cannot use a proxy, so this handler's batches run on the classic engine" in caplog.text
        assert proxy.keys[seaweed.credentials().access_key_id] >= 20  # every PUT went through it
        sent = sum(proxy.keys.values())
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="lake_assets.s3.handler"), S3Handler(
                seaweed.transfer_config(show_progress=False)) as s3:
            assert len(s3.download_batch(bucket, [S3ObjectRef(r.key, tmp_path / "d" / r.key) for r in refs]).done) == 20
        assert (sum(proxy.keys.values()), caplog.text) == (sent, "")  # NO_PROXY: straight to the server
