"""Faults between the handler and SeaweedFS (503 SlowDown, 500s, connections reset mid-response, latency):
2,000 objects still go up and come back byte-identical, retries are counted, and permanent failures are
reported in the ``failed`` lists, never raised or dropped."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from lake_assets.local_s3 import EmbeddedS3
from lake_assets.s3 import ObjectNotFoundError, S3Error, S3Handler, S3ObjectRef
from lake_assets.s3.config import MiB
from lake_assets_tests.conftest import write_files
from lake_assets_tests.faultproxy import FaultProxy

pytestmark = pytest.mark.integration

OBJECTS = 2000


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_thousand_objects_survive_ten_percent_faults(seaweed: EmbeddedS3, bucket: str, tmp_path: Path) -> None:
    sizes = {f"faults/{i:05d}.bin": 1024 + i for i in range(OBJECTS - 1)} | {"faults/big.bin": 20 * 1024 * 1024}
    sources = write_files(tmp_path / "src", sizes)
    missing_local = tmp_path / "src" / "not-there.bin"
    uploads = [S3ObjectRef(key, path) for key, path in sources.items()] + [S3ObjectRef("faults/x", missing_local)]
    targets = {key: tmp_path / "dst" / key for key in sources}
    absent = [S3ObjectRef(f"faults/absent-{i}", tmp_path / "dst" / f"absent-{i}") for i in range(3)]
    with FaultProxy(seaweed.ports.s3, rate=0.10, seed=5) as proxy:
        config = seaweed.transfer_config(show_progress=False, endpoint_url=proxy.endpoint_url, retry_attempts=10)
        with S3Handler(config) as s3:
            uploaded, skipped, failed = s3.upload_objects(bucket, uploads)
            up = s3.get_statistics()
            s3.reset_statistics()
            downloads = [S3ObjectRef(key, path) for key, path in targets.items()] + absent
            downloaded, _, failed_down = s3.download_objects(bucket, downloads)
            down = s3.get_statistics()
            not_found = [f for f in s3.failures if isinstance(f.error, ObjectNotFoundError)]
        faults = dict(proxy.counts)
    assert sorted(uploaded) == sorted(sources) and skipped == [] and failed == [missing_local]
    assert len(downloaded) == OBJECTS and sorted(failed_down) == sorted(ref.local_path for ref in absent)
    assert len(not_found) == 3
    assert all(digest(sources[key]) == digest(path) for key, path in targets.items())
    assert not any(ref.local_path.exists() for ref in absent)
    injected = faults["slowdown"] + faults["server_error"] + faults["reset"]
    assert injected > 0.05 * faults["requests"]
    # every refused request was retried: by the handler, or for the parts of big.bin's download, by the CRT
    retried_by_crt = faults.get("slowdown pinned", 0) + faults.get("server_error pinned", 0)
    assert up["retries"] + down["retries"] >= injected - faults["reset"] - retried_by_crt
    with S3Handler(seaweed.transfer_config(show_progress=False)) as s3:
        assert s3.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    print(f"faults: {faults}; retries: upload {up['retries']}, download {down['retries']}")


def test_the_crt_retries_the_failed_parts_of_a_large_download_itself(seaweed: EmbeddedS3, bucket: str,
                                                                     tmp_path: Path) -> None:
    source = write_files(tmp_path / "src", {"large.bin": 100 * MiB + 5})["large.bin"]
    target = tmp_path / "dst" / "large.bin"
    with S3Handler(seaweed.transfer_config(show_progress=False)) as s3:
        s3.upload_objects(bucket, [S3ObjectRef("large.bin", source)])
    with FaultProxy(seaweed.ports.s3, rate=0.0, pinned_fault_every=3) as proxy:
        config = seaweed.transfer_config(show_progress=False, endpoint_url=proxy.endpoint_url, retry_attempts=3)
        with S3Handler(config) as s3:
            assert s3.download_objects(bucket, [S3ObjectRef("large.bin", target)]) == ([target], [], [])
            stats = s3.get_statistics()
        faults = dict(proxy.counts)
    assert digest(target) == digest(source)
    # The last 8 MiB in one request, then the 92 MiB before them in 6 parts of 16 MiB, each pinned with If-Match;
    # every third pinned GET was refused once: the CRT retried those itself, and the handler saw no failure
    assert faults["pinned"] >= 6 + faults["server_error pinned"] and faults["server_error pinned"] >= 2
    assert stats["requests"] == {"HeadBucket": 1, "GetObject": 2} and stats["retries"] == 0
    assert stats["bytes_downloaded"] == source.stat().st_size


@pytest.mark.parametrize("size", [100_000, 20 * MiB], ids=["small", "large"])
def test_a_stalled_server_fails_a_crt_download_in_bounded_time_and_leaves_no_file(
        seaweed: EmbeddedS3, bucket: str, tmp_path: Path, size: int) -> None:
    """A server that takes the request and never answers: each request is cancelled after ``read_timeout``
    without a byte, retried, and the object fails; nothing is left where it was going."""
    source = write_files(tmp_path / "up", {"k": size})["k"]
    with S3Handler(seaweed.transfer_config(show_progress=False)) as s3:
        s3.upload_objects(bucket, [S3ObjectRef("k", source)])
    with FaultProxy(seaweed.ports.s3, rate=0.0) as proxy:
        config = seaweed.transfer_config(show_progress=False, endpoint_url=proxy.endpoint_url, engine="crt",
                                         read_timeout=2.0, retry_attempts=1)
        with S3Handler(config) as s3:
            s3.existing_keys(bucket, [])  # the bucket check (a HEAD) goes through before the stall
            proxy.stall_gets()
            began = time.monotonic()
            result = s3.download_batch(bucket, [S3ObjectRef("k", tmp_path / "down" / "k")])
            elapsed = time.monotonic() - began
    assert result.failures and "nothing completed for 2 s (read_timeout)" in str(result.failures[0].error)
    assert elapsed < 15  # two attempts of 2 s, and the backoff between them: never for ever
    assert not list((tmp_path / "down").iterdir())


def test_a_stalled_server_fails_an_existence_check_through_the_crt_in_bounded_time(
        seaweed: EmbeddedS3, bucket: str) -> None:
    """The LIST of an existence check, sent through the CRT to a server that never answers: given up after
    ``connect_timeout`` + ``read_timeout``, asked again through boto3, whose read timeout names the failure."""
    with FaultProxy(seaweed.ports.s3, rate=0.0) as proxy:
        config = seaweed.transfer_config(show_progress=False, endpoint_url=proxy.endpoint_url, engine="crt",
                                         read_timeout=2.0, connect_timeout=1.0, retry_attempts=1)
        with S3Handler(config) as s3:
            s3.existing_keys(bucket, [])
            proxy.stall_gets()
            began = time.monotonic()
            with pytest.raises(S3Error, match="ListObjectsV2"):
                s3.existing_keys(bucket, [f"stalled/k{i:02d}" for i in range(20)], threshold=1)
            elapsed = time.monotonic() - began
    assert 3 <= elapsed < 15  # the CRT's 3 s, then boto3's two attempts of 2 s and the backoff: never for ever


@pytest.mark.parametrize("engine", ["crt", "classic"])
def test_read_timeout_on_a_slow_link_bounds_a_crt_request_and_a_classic_socket_read(
        seaweed: EmbeddedS3, bucket: str, tmp_path: Path, engine: str) -> None:
    """A server whose answer trickles in for about 3 s, every chunk well inside ``read_timeout`` (1 s): the
    classic engine's socket reads see each chunk and the download completes; the CRT reports nothing until
    the request completes, so the request is cancelled at 1 s, as the README says (a slow link needs a longer
    ``read_timeout`` on the crt engine)."""
    size = 120_000
    source = write_files(tmp_path / "up", {"k": size})["k"]
    with S3Handler(seaweed.transfer_config(show_progress=False)) as s3:
        s3.upload_objects(bucket, [S3ObjectRef("k", source)])
    with FaultProxy(seaweed.ports.s3, rate=0.0) as proxy:
        config = seaweed.transfer_config(show_progress=False, endpoint_url=proxy.endpoint_url, engine=engine,
                                         read_timeout=1.0, retry_attempts=0)
        with S3Handler(config) as s3:
            s3.existing_keys(bucket, [])
            proxy.trickle_gets(size // 12, 0.25)
            result = s3.download_batch(bucket, [S3ObjectRef("k", tmp_path / "down" / "k")])
    if engine == "classic":
        assert not result.failures and digest(tmp_path / "down" / "k") == digest(source)
    else:
        assert result.failures and "nothing completed for 1 s (read_timeout)" in str(result.failures[0].error)
        assert not list((tmp_path / "down").iterdir())
