"""S3Handler logic and error paths on moto: batches, skips, HEAD-vs-LIST choice, retries, atomic downloads.

moto checks no signatures or checksums; every claim here is tested again on SeaweedFS in
``test_s3_seaweed.py``.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ResponseStreamingError
from botocore.response import StreamingBody

from lake_assets.s3 import (
    BucketNotFoundError,
    CorruptObjectError,
    InvalidCredentialsError,
    NoProgress,
    ObjectNotFoundError,
    S3Error,
    S3Handler,
    S3ObjectRef,
    S3TransferConfig,
)
from lake_assets.s3.client import parse_timestamp
from lake_assets.s3.config import MiB
from lake_assets.s3.listing import BotoKeys, existing_by_listing, group_by_prefix
from lake_assets.s3.upload import FileUploader
from lake_assets_tests.conftest import MOTO_BUCKET as BUCKET
from lake_assets_tests.conftest import write_files

SMALL_PARTS = {"multipart_threshold": 5 * MiB, "multipart_chunksize": 5 * MiB}


def refs_for(paths: dict[str, Path]) -> list[S3ObjectRef]:
    return [S3ObjectRef(key, path) for key, path in paths.items()]


def test_handler_must_be_used_as_context_manager(moto_config: S3TransferConfig) -> None:
    with pytest.raises(RuntimeError, match="context manager"):
        S3Handler(moto_config).upload_objects(BUCKET, [])


def test_round_trip_small_and_multipart(moto_config: S3TransferConfig, tmp_path: Path) -> None:
    config = S3TransferConfig(**{**moto_config.__dict__, **SMALL_PARTS})
    paths = write_files(tmp_path / "src", {"d/a.bin": 1000, "d/b.bin": 0, "d/big.bin": 11 * MiB})
    with S3Handler(config) as s3:
        uploaded, skipped, failed = s3.upload_objects(BUCKET, refs_for(paths))
        assert (sorted(uploaded), skipped, failed) == (sorted(paths), [], [])
        up = s3.get_statistics()
        s3.reset_statistics()
        back = [S3ObjectRef(key, tmp_path / "dst" / key) for key in paths]
        downloaded, skipped, failed = s3.download_objects(BUCKET, back)
        down = s3.get_statistics()
    assert len(downloaded) == 3 and skipped == failed == []
    for ref in back:
        assert ref.local_path.read_bytes() == paths[ref.key].read_bytes()
    assert up["requests"]["CreateMultipartUpload"] == 1 and up["requests"]["UploadPart"] == 3
    # two small files, and the multipart upload's commit claim: put before completing, deleted after
    assert up["requests"]["PutObject"] == 3 and up["requests"]["DeleteObject"] == 1
    assert up["bytes_uploaded"] == 11 * MiB + 1000
    # one ranged GET per 5 MiB part of the big file, one for the small file, two for the empty one
    # (a range over zero bytes is refused with 416, then it is fetched whole); no HEAD, and the
    # bucket was already checked by the upload
    assert down["requests"] == {"GetObject": 3 + 1 + 2}
    assert down["bytes_downloaded"] == 11 * MiB + 1000


def test_existing_local_files_are_skipped_without_any_request(moto_config: S3TransferConfig,
                                                                tmp_path: Path) -> None:
    local = tmp_path / "here.bin"
    local.write_bytes(b"mine")
    with S3Handler(moto_config) as s3:
        downloaded, skipped, failed = s3.download_objects(BUCKET, [S3ObjectRef("nowhere", local)])
        assert (downloaded, skipped, failed) == ([], [local], [])
        assert s3.get_statistics()["total_requests"] == 0
    assert local.read_bytes() == b"mine"


def test_overwrite_false_keeps_remote_objects_and_true_replaces_them(moto_config: S3TransferConfig,
                                                                     tmp_path: Path) -> None:
    path = tmp_path / "f"
    with S3Handler(moto_config) as s3:
        s3.put_bytes(BUCKET, "k", b"original")
        path.write_bytes(b"new")
        assert s3.upload_objects(BUCKET, [S3ObjectRef("k", path)]) == ([], ["k"], [])
        assert s3.get_bytes(BUCKET, "k") == b"original"
        assert s3.upload_objects(BUCKET, [S3ObjectRef("k", path)], overwrite=True) == (["k"], [], [])
        assert s3.get_bytes(BUCKET, "k") == b"new"
        assert s3.put_bytes(BUCKET, "k", b"again") is False
        local = tmp_path / "local"
        local.write_bytes(b"stale")
        s3.download_objects(BUCKET, [S3ObjectRef("k", local)], overwrite=True)
    assert local.read_bytes() == b"new"


@pytest.mark.parametrize(("count", "expected"), [
    (10, {"HeadBucket": 1, "HeadObject": 10}),
    (300, {"HeadBucket": 1, "ListObjectsV2": 1}),
    (2600, {"HeadBucket": 1, "ListObjectsV2": 2}),  # 1,300 objects in the range: two pages
])
def test_existence_check_uses_head_below_threshold_and_list_above(
        moto_config: S3TransferConfig, count: int, expected: dict[str, int]) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    keys = [f"zone=raw/k{i:05d}" for i in range(count)]
    for key in keys[::2]:
        client.put_object(Bucket=BUCKET, Key=key, Body=b"")
    with S3Handler(moto_config) as s3:
        found = s3.existing_keys(BUCKET, keys)
        assert s3.get_statistics()["requests"] == expected
    assert found == set(keys[::2])


def test_group_by_prefix_splits_zones_and_datasets() -> None:
    keys = sorted(["lake/zone=raw/a/1", "lake/zone=raw/a/2", "lake/zone=cur/b/1", "lake/top.txt"])
    assert group_by_prefix(keys) == [["lake/top.txt"], ["lake/zone=cur/b/1"],
                                     ["lake/zone=raw/a/1", "lake/zone=raw/a/2"]]
    assert group_by_prefix([]) == []


def test_listing_a_range_ignores_keys_outside_it(moto_config: S3TransferConfig) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    for key in ["p/a0", "p/a1", "p/a2", "p/a3", "p/b", "q/a1"]:
        client.put_object(Bucket=BUCKET, Key=key, Body=b"")
    assert existing_by_listing(BotoKeys(lambda: client), BUCKET, ["p/a1", "p/a2", "p/a9"]) == {"p/a1", "p/a2"}


def test_missing_local_file_and_missing_key_go_to_failed(moto_config: S3TransferConfig, tmp_path: Path) -> None:
    with S3Handler(moto_config) as s3:
        assert s3.upload_objects(BUCKET, [S3ObjectRef("k", tmp_path / "absent")]) == ([], [], [tmp_path / "absent"])
        target = tmp_path / "out" / "x.bin"
        downloaded, _, failed = s3.download_objects(BUCKET, [S3ObjectRef("no/such/key", target)])
        assert (downloaded, failed) == ([], [target])
        assert isinstance(s3.failures[0].error, ObjectNotFoundError)
        assert "s3://unit-bucket/no/such/key" in str(s3.failures[0].error)
        assert s3.get_statistics()["failed"] == 2
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_missing_bucket_raises_once_with_a_clear_message(moto_config: S3TransferConfig, tmp_path: Path) -> None:
    path = write_files(tmp_path, {"a": 10})["a"]
    with S3Handler(moto_config) as s3:
        with pytest.raises(BucketNotFoundError, match="s3://no-such-bucket does not exist"):
            s3.upload_objects("no-such-bucket", [S3ObjectRef("a", path)] * 50)
        assert s3.get_statistics()["total_requests"] == 1


@pytest.fixture
def broken_streams(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Make the next ``budget["breaks"]`` response bodies drop their connection after one chunk."""
    budget = {"breaks": 0}
    original = StreamingBody.iter_chunks

    def flaky(self: StreamingBody, chunk_size: int = 1024) -> Iterator[bytes]:
        for chunk in original(self, chunk_size):
            yield chunk
            if budget["breaks"] > 0:
                budget["breaks"] -= 1
                raise ResponseStreamingError(error="connection reset by peer (injected)")

    monkeypatch.setattr(StreamingBody, "iter_chunks", flaky)
    yield budget


def test_a_broken_stream_is_resumed_and_counted(moto_config: S3TransferConfig, tmp_path: Path,
                                                broken_streams: dict[str, int]) -> None:
    data = write_files(tmp_path, {"obj": 3 * MiB})["obj"].read_bytes()
    target = tmp_path / "back"
    with S3Handler(moto_config) as s3:
        s3.put_bytes(BUCKET, "obj", data)
        broken_streams["breaks"] = 1
        downloaded, _, failed = s3.download_objects(BUCKET, [S3ObjectRef("obj", target)])
        stats = s3.get_statistics()
    assert (downloaded, failed) == ([target], [])
    assert target.read_bytes() == data
    assert stats["retries"] == 1 and stats["requests"]["GetObject"] == 2


def test_an_interrupted_download_leaves_nothing_at_local_path(moto_config: S3TransferConfig, tmp_path: Path,
                                                              broken_streams: dict[str, int]) -> None:
    data = write_files(tmp_path / "src", {"obj": 6 * MiB})["obj"].read_bytes()  # one 8 MiB range
    target = tmp_path / "out" / "obj"
    with S3Handler(moto_config) as s3:
        s3.put_bytes(BUCKET, "obj", data)
        broken_streams["breaks"] = 1000
        downloaded, _, failed = s3.download_objects(BUCKET, [S3ObjectRef("obj", target)])
        assert s3.get_statistics()["retries"] == moto_config.retry_attempts
    assert (downloaded, failed) == ([], [target])
    assert list(target.parent.iterdir()) == []


def test_a_failed_multipart_upload_is_aborted(moto_config: S3TransferConfig, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    config = S3TransferConfig(**{**moto_config.__dict__, **SMALL_PARTS, "retry_attempts": 0})
    path = write_files(tmp_path, {"big": 12 * MiB})["big"]
    client = boto3.client("s3", region_name="us-east-1")
    with S3Handler(config) as s3:
        def reject_part_two(params: dict[str, Any], **_: Any) -> None:
            if params.get("PartNumber") == 2:
                raise ConnectionResetError("injected failure of part 2")

        s3.client.meta.events.register("provide-client-params.s3.UploadPart", reject_part_two)
        assert s3.upload_objects(BUCKET, [S3ObjectRef("big", path)]) == ([], [], [path])
        assert s3.get_statistics()["requests"].get("AbortMultipartUpload") == 1
    assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert "Contents" not in client.list_objects_v2(Bucket=BUCKET)


def test_single_object_calls(moto_config: S3TransferConfig) -> None:
    with S3Handler(moto_config) as s3:
        assert s3.put_bytes(BUCKET, "t/a.csv.gz", gzip.compress(b"a,b\n1,2\n"), content_type="text/csv",
                            metadata={"source": "vendor"})
        assert s3.get_bytes(BUCKET, "t/a.csv.gz", decompress=True) == b"a,b\n1,2\n"
        info = s3.info(BUCKET, "t/a.csv.gz")
        assert (info.content_type, info.metadata, info.server_side_encryption) == ("text/csv", {"source": "vendor"},
                                                                                   "AES256")
        s3.put_bytes(BUCKET, "t/plain", b"0123456789")
        assert s3.get_range(BUCKET, "t/plain", 2, 3) == b"234"
        assert s3.get_range(BUCKET, "t/plain", 8, 100) == b"89"
        with pytest.raises(CorruptObjectError, match="not valid gzip"):
            s3.get_bytes(BUCKET, "t/plain", decompress=True)
        with pytest.raises(ObjectNotFoundError, match="s3://unit-bucket/t/none"):
            s3.info(BUCKET, "t/none")
        assert s3.copy_object(BUCKET, "t/plain", BUCKET, "t/copy", overwrite=True)
        assert s3.get_bytes(BUCKET, "t/copy") == b"0123456789"


def test_a_listing_and_a_head_give_the_same_aware_time_of_an_object(moto_config: S3TransferConfig) -> None:
    """A listing's ISO 8601 times are parsed by the standard library, a HEAD's RFC 822 one by botocore: the
    sensors compare them, so both must be the same aware UTC time."""
    with S3Handler(moto_config) as s3:
        s3.put_bytes(BUCKET, "t/when", b"x")
        listed = next(iter(s3.iter_objects(BUCKET, "t/when")))
        assert listed.last_modified.utcoffset() == timedelta(0)
        assert listed.last_modified == s3.info(BUCKET, "t/when").last_modified


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-05T18:04:30.000Z", datetime(2026, 12, 5, 18, 4, 30, tzinfo=timezone.utc)),
    ("2026-12-05T18:04:30.250+01:00", datetime(2026, 12, 5, 17, 4, 30, 250_000, tzinfo=timezone.utc)),
    ("Sat, 05 Dec 2026 18:04:30 GMT", datetime(2026, 12, 5, 18, 4, 30, tzinfo=timezone.utc)),
    (1796494470, datetime(2026, 12, 5, 18, 14, 30, tzinfo=timezone.utc)),
])
def test_response_timestamps_parse_to_aware_times(text: str | int, expected: datetime) -> None:
    assert parse_timestamp(text) == expected and parse_timestamp(text).tzinfo is not None


def test_delete_sends_one_request_per_thousand_keys(moto_config: S3TransferConfig) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    keys = [f"del/{i:04d}" for i in range(2500)]
    for key in keys:
        client.put_object(Bucket=BUCKET, Key=key, Body=b"")
    with S3Handler(moto_config) as s3:
        assert s3.delete_objects(BUCKET, keys) == []
        assert s3.get_statistics()["requests"] == {"DeleteObjects": 3}
        assert list(s3.iter_objects(BUCKET, "del/")) == []


def test_presigned_urls_have_a_bounded_expiry(moto_config: S3TransferConfig) -> None:
    with S3Handler(moto_config) as s3:
        assert "X-Amz-Expires=60" in s3.presign_get(BUCKET, "k", expires_in=60)
        for bad in (0, 7 * 24 * 3600 + 1):
            with pytest.raises(ValueError, match="expires_in"):
                s3.presign_get(BUCKET, "k", expires_in=bad)


def test_sse_kms_arguments_reach_the_object(moto_config: S3TransferConfig, tmp_path: Path) -> None:
    config = S3TransferConfig(**{**moto_config.__dict__, "encryption_type": "aws:kms",
                                 "kms_key_id": "alias/lake", "bucket_key_enabled": True})
    path = write_files(tmp_path, {"k": 100})["k"]
    with S3Handler(config) as s3:
        s3.upload_objects(BUCKET, [S3ObjectRef("k", path)])
        info = s3.info(BUCKET, "k")
    assert (info.server_side_encryption, info.kms_key_id) == ("aws:kms", "alias/lake")


@pytest.mark.parametrize("variable", ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"])
def test_named_profiles_come_from_the_environment(moto_config: S3TransferConfig, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("[lake]\naws_access_key_id = AKPROFILE\naws_secret_access_key = secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv(variable, "lake")
    with S3Handler(moto_config) as s3:
        assert s3.client._request_signer._credentials.access_key == "AKPROFILE"
    monkeypatch.setenv(variable, "nope")
    with S3Handler(moto_config) as s3, pytest.raises(InvalidCredentialsError, match="'nope' not found"):
        s3.client  # built on first use: the first call that needs it names the missing profile


class _Body:
    """The raw body botocore reads from an injected response."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def answer_first_sends(client: Any, operation: str, statuses: list[tuple[int, str]]) -> None:
    """Answer the next sends of ``operation`` with these S3 errors instead of sending them."""
    pending = list(statuses)

    def short_circuit(request: Any, **_: Any) -> AWSResponse | None:
        if not pending:
            return None
        status, code = pending.pop(0)
        body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
        return AWSResponse(request.url, status, {"Content-Type": "application/xml"}, _Body(body))

    client.meta.events.register_first(f"before-send.s3.{operation}", short_circuit)


def test_throttling_and_server_errors_are_retried_and_counted(moto_config: S3TransferConfig, tmp_path: Path) -> None:
    path = write_files(tmp_path, {"k": 100})["k"]
    with S3Handler(moto_config) as s3:
        answer_first_sends(s3.client, "PutObject", [(503, "SlowDown"), (500, "InternalError")])
        assert s3.upload_objects(BUCKET, [S3ObjectRef("k", path)], overwrite=True) == (["k"], [], [])
        stats = s3.get_statistics()
    assert stats["retries"] == 2 and stats["requests"]["PutObject"] == 3


def test_permanent_errors_are_not_retried(moto_config: S3TransferConfig, tmp_path: Path) -> None:
    path = write_files(tmp_path, {"k": 100})["k"]
    with S3Handler(moto_config) as s3:
        s3.existing_keys(BUCKET, [])  # the bucket check happens before the injection
        s3.reset_statistics()
        answer_first_sends(s3.client, "PutObject", [(403, "AccessDenied")])
        assert s3.upload_objects(BUCKET, [S3ObjectRef("k", path)], overwrite=True) == ([], [], [path])
        assert s3.failures[0].error.code == "AccessDenied" and "s3://unit-bucket/k" in str(s3.failures[0].error)
        assert s3.get_statistics()["requests"] == {"PutObject": 1}


def test_one_client_with_a_pool_for_every_worker(moto_config: S3TransferConfig) -> None:
    config = S3TransferConfig(**{**moto_config.__dict__, "max_concurrency": 40, "max_pool_connections": 10})
    with S3Handler(config) as s3:
        client = s3.client
        assert client.meta.config.max_pool_connections == 80
        s3.put_bytes(BUCKET, "a", b"1")
        s3.get_bytes(BUCKET, "a")
        assert s3.client is client


def test_a_retried_write_that_meets_its_own_object_counts_as_uploaded(moto_config: S3TransferConfig,
                                                                       tmp_path: Path) -> None:
    """The first attempt landed but its answer was lost; botocore's retry then gets 412 from our own object."""
    ours = write_files(tmp_path, {"mine": 300})["mine"]
    theirs = write_files(tmp_path, {"theirs": 300}, seed=9)["theirs"]
    client = boto3.client("s3", region_name="us-east-1")
    client.put_object(Bucket=BUCKET, Key="mine", Body=ours.read_bytes())      # our first attempt, answer lost
    client.put_object(Bucket=BUCKET, Key="theirs", Body=theirs.read_bytes())  # another writer's object
    with S3Handler(moto_config) as s3, ThreadPoolExecutor(1) as parts:
        uploader = FileUploader(lambda: s3.client, s3.config, parts)
        answer_first_sends(s3.client, "PutObject", [(503, "SlowDown"), (503, "SlowDown")])
        assert uploader.upload(BUCKET, "mine", ours, overwrite=False, on_bytes=lambda n: None) is True
        assert uploader.upload(BUCKET, "theirs", ours, overwrite=False, on_bytes=lambda n: None) is False
    assert client.get_object(Bucket=BUCKET, Key="theirs")["Body"].read() == theirs.read_bytes()


def test_batches_on_one_handler_from_several_threads_keep_their_own_failures(moto_config: S3TransferConfig,
                                                                             tmp_path: Path) -> None:
    with S3Handler(moto_config) as s3:
        def fetch_missing(name: str) -> list[str]:
            _, _, failed = s3.download_objects(BUCKET, [S3ObjectRef(f"missing/{name}", tmp_path / name)])
            assert failed == [tmp_path / name]
            return [failure.key for failure in s3.failures]

        with ThreadPoolExecutor(4) as pool:
            seen = list(pool.map(fetch_missing, [f"k{i}" for i in range(16)]))
    assert seen == [[f"missing/k{i}"] for i in range(16)]


def test_a_batch_result_carries_each_failure_and_progress_reaches_the_listener(moto_config: S3TransferConfig,
                                                                               tmp_path: Path) -> None:
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    class Counting(NoProgress):
        def __init__(self, description: str, files: int, total_bytes: int | None) -> None:
            super().__init__(description)
            seen.update(expected_files=files, expected_bytes=total_bytes or 0)

        def add_bytes(self, amount: int) -> None:
            with lock:
                seen["bytes"] += amount

        def file_done(self) -> None:
            with lock:
                seen["files"] += 1

    paths = write_files(tmp_path, {"a": 10, "b": 20})
    missing = tmp_path / "missing"
    refs = [S3ObjectRef("a", paths["a"]), S3ObjectRef("b", paths["b"]), S3ObjectRef("c", missing)]
    with S3Handler(moto_config, progress=Counting) as s3:
        result = s3.upload_batch(BUCKET, refs)
        again = s3.upload_batch(BUCKET, refs[:2])
    assert (result.done, result.skipped, result.failed) == (["a", "b"], [], [missing])
    assert isinstance(result.failures[0].error, FileNotFoundError)
    with pytest.raises(FileNotFoundError, match="is not a file"):
        result.raise_first_failure()
    assert (again.done, again.skipped, again.failures) == ([], ["a", "b"], [])
    assert seen == {"expected_files": 2, "expected_bytes": 30, "bytes": 30, "files": 2}


def test_the_transfer_layer_runs_where_rich_is_not_installed(tmp_path: Path) -> None:
    script = f"""
import sys
sys.modules["rich"] = None  # as if rich were not installed: any import of it fails
import boto3
from moto import mock_aws
from lake_assets.s3 import S3Handler, S3ObjectRef, S3TransferConfig
path = __import__("pathlib").Path({str(tmp_path / "f")!r})
path.write_bytes(b"x")
with mock_aws():
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="no-rich")
    with S3Handler(S3TransferConfig(region="us-east-1", engine="classic", show_progress=False)) as s3:
        print(s3.upload_objects("no-rich", [S3ObjectRef("k", path)]))
"""
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(['k'], [], [])"


def test_a_batch_call_that_raises_leaves_no_reasons_of_an_earlier_call(moto_config: S3TransferConfig,
                                                                       tmp_path: Path) -> None:
    with S3Handler(moto_config) as s3:
        assert s3.upload_objects(BUCKET, [S3ObjectRef("k", tmp_path / "missing")])[2] == [tmp_path / "missing"]
        assert len(s3.failures) == 1
        with pytest.raises(BucketNotFoundError):
            s3.upload_objects("no-such-bucket", [S3ObjectRef("k", write_files(tmp_path, {"f": 1})["f"])])
        assert s3.failures == []


def test_a_failed_head_is_an_error_to_a_reader_and_absent_to_a_conditional_writer(
        moto_config: S3TransferConfig, tmp_path: Path) -> None:
    path = write_files(tmp_path, {"k": 100})["k"]
    with S3Handler(moto_config) as s3:
        s3.put_bytes(BUCKET, "there", b"x")
        answer_first_sends(s3.client, "HeadObject", [(403, "AccessDenied")])
        # not "absent": a reader (the history checks, the IO manager) would silently get fewer days
        with pytest.raises(S3Error, match="HeadObject s3://unit-bucket/there failed"):
            s3.existing_keys(BUCKET, ["there"], threshold=2)
        answer_first_sends(s3.client, "HeadObject", [(403, "AccessDenied")])
        assert s3.upload_objects(BUCKET, [S3ObjectRef("k", path)]) == (["k"], [], [])  # its precondition protects it
