"""The transfer layer against the real embedded SeaweedFS: every S3 feature the handler claims.

Multipart round trips, SSE on every object, listing past page boundaries, HEAD-versus-LIST request
counts, conditional writes under real races, atomic downloads under SIGKILL, clear errors for bad
credentials, missing buckets and missing permissions, ranges, copies, presigned URLs, and progress
output on a pipe.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from lake_assets.local_s3 import EmbeddedS3
from lake_assets.s3 import (
    AccessDeniedError,
    BucketNotFoundError,
    EndpointUnreachableError,
    InvalidCredentialsError,
    NoProgress,
    PreconditionFailedError,
    S3Handler,
    S3ObjectRef,
    S3TransferConfig,
)
from lake_assets.s3.claims import claim_key
from lake_assets.s3.config import MiB
from lake_assets_tests.conftest import write_files

pytestmark = pytest.mark.integration


def with_changes(config: S3TransferConfig, **changes: object) -> S3TransferConfig:
    return S3TransferConfig(**{**config.__dict__, **changes})


def test_multipart_round_trip_of_64_mib_is_byte_identical(sw_config: S3TransferConfig, bucket: str,
                                                          tmp_path: Path) -> None:
    source = write_files(tmp_path / "src", {"big/blob.bin": 64 * MiB + 3})["big/blob.bin"]
    target = tmp_path / "dst" / "blob.bin"
    with S3Handler(sw_config) as s3:
        assert s3.upload_objects(bucket, [S3ObjectRef("big/blob.bin", source)]) == (["big/blob.bin"], [], [])
        up = s3.get_statistics()["requests"]
        s3.reset_statistics()
        assert s3.download_objects(bucket, [S3ObjectRef("big/blob.bin", target)]) == ([target], [], [])
        down = s3.get_statistics()["requests"]
    assert target.read_bytes() == source.read_bytes()
    # 64 MiB + 3 bytes in 8 MiB parts is 9 parts up, each one request; down, the last 8 MiB, then one
    # CRT download of the rest (its parts are the CRT's own requests, not counted)
    assert (up["CreateMultipartUpload"], up["UploadPart"], up["CompleteMultipartUpload"]) == (1, 9, 1)
    assert down == {"GetObject": 2}


def test_every_object_written_carries_sse(sw_config: S3TransferConfig, bucket: str, tmp_path: Path) -> None:
    paths = write_files(tmp_path, {"a/small": 100, "a/multi": 9 * MiB})
    with S3Handler(sw_config) as s3:
        s3.upload_objects(bucket, [S3ObjectRef(key, path) for key, path in paths.items()])
        s3.put_bytes(bucket, "a/bytes", b"payload")
        s3.copy_object(bucket, "a/small", bucket, "a/copied")
        keys = [info.key for info in s3.iter_objects(bucket)]
        encryption = {key: s3.info(bucket, key).server_side_encryption for key in keys}
    assert encryption == {key: "AES256" for key in ("a/bytes", "a/copied", "a/multi", "a/small")}


def test_listing_pages_past_2500_keys_and_resumes_after_a_cursor(sw_config: S3TransferConfig, bucket: str,
                                                                 tmp_path: Path) -> None:
    keys = [f"many/{i:05d}" for i in range(2600)]
    paths = write_files(tmp_path, {key: 1 for key in keys})
    with S3Handler(sw_config) as s3:
        s3.upload_objects(bucket, [S3ObjectRef(key, paths[key]) for key in keys], overwrite=True)
        s3.reset_statistics()
        assert [info.key for info in s3.iter_objects(bucket, "many/")] == keys
        assert s3.get_statistics()["requests"] == {"ListObjectsV2": 3}
        s3.reset_statistics()
        assert [info.key for info in s3.iter_objects(bucket, "many/", start_after=keys[1499])] == keys[1500:]
        assert s3.get_statistics()["requests"] == {"ListObjectsV2": 2}


@pytest.mark.parametrize(("count", "expected"), [
    (100, {"HeadBucket": 1, "HeadObject": 100}),
    (3000, {"HeadBucket": 1, "ListObjectsV2": 2}),  # 1,500 present keys in the range: two pages
])
def test_existence_checks_cost_head_per_key_or_list_per_page(sw_config: S3TransferConfig, bucket: str,
                                                             tmp_path: Path, count: int,
                                                             expected: dict[str, int]) -> None:
    keys = [f"lake/zone=raw/k{i:05d}" for i in range(count)]
    present = keys[::2]
    paths = write_files(tmp_path, {key: 1 for key in present})
    with S3Handler(sw_config) as s3:
        s3.upload_objects(bucket, [S3ObjectRef(key, paths[key]) for key in present], overwrite=True)
    with S3Handler(sw_config) as s3:
        assert s3.existing_keys(bucket, keys) == set(present)
        assert s3.get_statistics()["requests"] == expected


def test_concurrent_conditional_puts_have_exactly_one_winner(sw_config: S3TransferConfig, bucket: str) -> None:
    writers, keys = 8, [f"race/{i}" for i in range(20)]
    barrier = threading.Barrier(writers)
    wins: dict[str, list[int]] = {key: [] for key in keys}
    lock = threading.Lock()

    def write(writer: int) -> None:
        with S3Handler(sw_config) as s3:
            barrier.wait()
            for key in keys:
                if s3.put_bytes(bucket, key, f"writer-{writer}".encode()):
                    with lock:
                        wins[key].append(writer)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with S3Handler(sw_config) as s3:
        for key, winners in wins.items():
            assert len(winners) == 1, f"{key}: {winners}"
            assert s3.get_bytes(bucket, key) == f"writer-{winners[0]}".encode()


#: Races per object size in the writers test; each must end with exactly one winner.
RACE_TRIALS = 25


@pytest.fixture
def cpu_burners() -> Iterator[None]:
    """One CPU-bound process per core beside the test, as on a loaded CI machine; killed afterwards."""
    spin = "import time\nend = time.monotonic() + 300\nwhile time.monotonic() < end: pass"
    burners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(os.cpu_count() or 2)]
    yield
    for burner in burners:
        burner.kill()
        burner.wait()


def hold_after_parts(s3: S3Handler, parts: int, barrier: threading.Barrier) -> None:
    """Make the handler's writer wait at ``barrier`` once its ``parts`` parts are uploaded, just before it commits."""
    uploaded = itertools.count(1)

    def on_part(**_: object) -> None:
        if next(uploaded) == parts:
            barrier.wait(timeout=60)
    s3.client.meta.events.register("after-call.s3.UploadPart", on_part)


@pytest.mark.parametrize("size", [1024, 9 * MiB], ids=["single-request", "multipart"])
def test_racing_writers_of_a_new_key_have_exactly_one_winner_under_load(
        sw_config: S3TransferConfig, bucket: str, tmp_path: Path, cpu_burners: None, size: int) -> None:
    """Three writers race for each of 25 new keys, released together at the start and (multipart) again
    with their parts uploaded; SeaweedFS alone lets two multipart completions both win about half the time."""
    writers = 3
    sources = [write_files(tmp_path / str(n), {"f": size}, seed=n)["f"] for n in range(writers)]
    parts = -(-size // sw_config.multipart_chunksize) if size > sw_config.multipart_threshold else 0
    outcomes: Counter[str] = Counter()
    for trial in range(RACE_TRIALS):
        key = f"race/{trial}"
        start, commit = threading.Barrier(writers), threading.Barrier(writers)
        results: dict[int, tuple[list[str], list[str], list[Path]]] = {}

        def upload(writer: int) -> None:
            with S3Handler(sw_config) as s3:
                if parts:
                    hold_after_parts(s3, parts, commit)
                start.wait(timeout=60)
                results[writer] = s3.upload_objects(bucket, [S3ObjectRef(key, sources[writer])])

        threads = [threading.Thread(target=upload, args=(n,)) for n in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [n for n, (uploaded, _, _) in results.items() if uploaded == [key]]
        skipped = [n for n, (_, skipped, _) in results.items() if skipped == [key]]
        failed = [n for n, (_, _, failed) in results.items() if failed]
        outcomes[f"{len(winners)} won, {len(skipped)} skipped, {len(failed)} failed"] += 1
        if len(winners) == 1:
            with S3Handler(sw_config) as s3:
                outcomes["winner's bytes stored"] += s3.get_bytes(bucket, key) == sources[winners[0]].read_bytes()
    assert outcomes == {"1 won, 2 skipped, 0 failed": RACE_TRIALS, "winner's bytes stored": RACE_TRIALS}
    with S3Handler(sw_config) as s3:
        assert s3.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
        assert list(s3.iter_objects(bucket, sw_config.claim_prefix)) == []


def test_a_claim_left_by_a_dead_writer_is_taken_over_after_its_ttl(sw_config: S3TransferConfig, bucket: str,
                                                                     tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    config = replace(sw_config, claim_ttl=1.0)
    source = write_files(tmp_path, {"f": 9 * MiB})["f"]
    with S3Handler(config) as s3:
        s3.put_bytes(bucket, claim_key(config, "dead/writer"), b"a writer killed while completing")
        time.sleep(2.5)  # the server stores Last-Modified to the second
        assert s3.upload_objects(bucket, [S3ObjectRef("dead/writer", source)]) == (["dead/writer"], [], [])
        assert s3.get_bytes(bucket, "dead/writer") == source.read_bytes()
        assert list(s3.iter_objects(bucket, config.claim_prefix)) == []
    assert "took over a stale commit claim" in caplog.text


def test_a_writer_waiting_on_a_claim_skips_the_key_once_the_holder_has_written_it(
        sw_config: S3TransferConfig, bucket: str, tmp_path: Path) -> None:
    source = write_files(tmp_path, {"f": 9 * MiB})["f"]
    results: list[tuple[list[str], list[str], list[Path]]] = []
    with S3Handler(sw_config) as s3:
        s3.put_bytes(bucket, claim_key(sw_config, "held/key"), b"another writer, completing")
        waiter = threading.Thread(target=lambda: results.append(
            s3.upload_objects(bucket, [S3ObjectRef("held/key", source)])))
        waiter.start()
        time.sleep(1.0)
        assert waiter.is_alive() and not results
        s3.put_bytes(bucket, "held/key", b"the holder's object")
        waiter.join(timeout=30)
        assert results == [([], ["held/key"], [])]
        assert s3.get_bytes(bucket, "held/key") == b"the holder's object"
        assert s3.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_claim_held_past_its_ttl_by_a_live_writer_fails_the_waiter_clearly(
        sw_config: S3TransferConfig, bucket: str, tmp_path: Path) -> None:
    config = replace(sw_config, claim_ttl=1.0)
    source = write_files(tmp_path, {"f": 9 * MiB})["f"]
    holding, stop = threading.Event(), threading.Event()

    def stuck_holder() -> None:  # renews its claim twice a second, so it never looks stale
        with S3Handler(config) as holder:
            while not stop.is_set():
                holder.put_bytes(bucket, claim_key(config, "stuck/key"), os.urandom(8), overwrite=True)
                holding.set()
                stop.wait(0.5)

    renewing = threading.Thread(target=stuck_holder)
    renewing.start()
    holding.wait(timeout=30)
    try:
        with S3Handler(config) as s3:
            assert s3.upload_objects(bucket, [S3ObjectRef("stuck/key", source)]) == ([], [], [source])
            assert "being completed by another writer" in str(s3.failures[0].error)
            assert s3.existing_keys(bucket, ["stuck/key"]) == set()
            assert s3.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    finally:
        stop.set()
        renewing.join()


@pytest.mark.parametrize("wrong", ["secret", "access key"])
def test_bad_credentials_fail_clearly_and_are_not_retried(sw_config: S3TransferConfig, bucket: str,
                                                          tmp_path: Path, wrong: str) -> None:
    if wrong == "secret":
        bad = with_changes(sw_config, secret_access_key="not-the-right-secret-42")
    else:
        bad = with_changes(sw_config, access_key_id="NOSUCHKEY", secret_access_key="unknown-key-secret-42")
    path = write_files(tmp_path, {"k": 10})["k"]
    with S3Handler(bad) as s3:
        with pytest.raises(InvalidCredentialsError, match=f"s3://{bucket}.*check the access key") as refused:
            s3.upload_objects(bucket, [S3ObjectRef("k", path)])
        assert s3.get_statistics()["retries"] == 0
    assert bad.secret_access_key not in str(refused.value) and bad.secret_access_key not in repr(bad)


def test_missing_bucket_fails_clearly(sw_config: S3TransferConfig, tmp_path: Path) -> None:
    target = tmp_path / "x"
    with S3Handler(sw_config) as s3, pytest.raises(BucketNotFoundError, match="s3://absent-bucket does not exist"):
        s3.download_objects("absent-bucket", [S3ObjectRef("k", target)])
    assert not target.exists()


def test_a_batch_the_crt_moves_builds_no_boto3_client(sw_config: S3TransferConfig, bucket: str,
                                                     tmp_path: Path) -> None:
    """Every Dagster run is a fresh process: its first download does not pay some 70 ms to build boto3's client."""
    files = write_files(tmp_path / "up", {"a": 1000, "b": 9 * MiB})
    with S3Handler(sw_config) as writer:
        writer.upload_batch(bucket, [S3ObjectRef(f"crt/{key}", path) for key, path in files.items()], overwrite=True)
    with S3Handler(sw_config) as s3:
        result = s3.download_batch(bucket, [S3ObjectRef(f"crt/{key}", tmp_path / "down" / key) for key in files])
        assert len(result.done) == 2 and s3._client is None  # the HeadBucket and the GETs all went through the CRT
        assert s3.get_statistics()["requests"] == {"HeadBucket": 1, "GetObject": 3}  # b: its tail, then its head
    assert all((tmp_path / "down" / key).read_bytes() == path.read_bytes() for key, path in files.items())


@pytest.mark.parametrize(("threshold", "check"), [(1000, "HeadObject"), (1, "ListObjectsV2")])
def test_a_conditional_upload_the_crt_moves_checks_existence_through_it(
        sw_config: S3TransferConfig, bucket: str, tmp_path: Path, threshold: int, check: str) -> None:
    """A fresh process's first conditional upload builds no boto3 client either; keys of any characters are found
    by HEAD and by LIST (URL-encoded in the listing), so none is written twice or overwritten."""
    keys = [f"odd-{check}/v=1/{i:02d} a+b=c&d?é€~%.txt" for i in range(20)]
    files = write_files(tmp_path / "src", {key: 100 + i for i, key in enumerate(keys)})
    with S3Handler(sw_config) as writer:
        writer.upload_batch(bucket, [S3ObjectRef(key, files[key]) for key in keys[::2]], overwrite=True)
    changed = write_files(tmp_path / "changed", {key: 7 for key in keys})
    with S3Handler(with_changes(sw_config, existence_check_threshold=threshold)) as s3:
        result = s3.upload_batch(bucket, [S3ObjectRef(key, changed[key]) for key in keys])
        assert (sorted(result.skipped), sorted(result.done)) == (sorted(keys[::2]), sorted(keys[1::2]))
        assert s3._client is None  # the HeadBucket, the existence check and the PUTs all went through the CRT
        requests = s3.get_statistics()["requests"]
        assert requests == {"HeadBucket": 1, check: 20 if check == "HeadObject" else 1, "PutObject": 10}
        assert {key: s3.get_bytes(bucket, key) for key in keys} == {
            key: (files if key in keys[::2] else changed)[key].read_bytes() for key in keys}


def test_unreachable_endpoint_fails_clearly(sw_config: S3TransferConfig) -> None:
    closed = with_changes(sw_config, endpoint_url="http://127.0.0.1:9", retry_attempts=0, connect_timeout=1)
    with S3Handler(closed) as s3, pytest.raises(EndpointUnreachableError, match="server is running"):
        s3.existing_keys("any-bucket", ["k"])


def test_read_only_identity_can_read_but_not_write(seaweed: EmbeddedS3, sw_config: S3TransferConfig,
                                                   bucket: str, tmp_path: Path) -> None:
    with S3Handler(sw_config) as s3:
        s3.put_bytes(bucket, "kept", b"original")
    path = write_files(tmp_path, {"new": 10})["new"]
    with S3Handler(seaweed.transfer_config("reader", show_progress=False)) as s3:
        assert s3.get_bytes(bucket, "kept") == b"original"
        assert s3.upload_objects(bucket, [S3ObjectRef("new", path)]) == ([], [], [path])
        assert isinstance(s3.failures[0].error, AccessDeniedError)
        with pytest.raises(AccessDeniedError, match=f"s3://{bucket}/kept"):
            s3.put_bytes(bucket, "kept", b"overwritten", overwrite=True)
        assert s3.get_bytes(bucket, "kept") == b"original"


def test_ranges_copies_and_presigned_urls(sw_config: S3TransferConfig, bucket: str) -> None:
    with S3Handler(sw_config) as s3:
        s3.put_bytes(bucket, "r/obj", bytes(range(256)))
        assert s3.get_range(bucket, "r/obj", 10, 5) == bytes(range(10, 15))
        assert s3.copy_object(bucket, "r/obj", bucket, "r/copy") is True
        assert s3.copy_object(bucket, "r/obj", bucket, "r/copy") is False  # exists: conditional copy kept it
        etag = s3.info(bucket, "r/obj").etag
        assert s3.copy_object(bucket, "r/obj", bucket, "r/pinned", source_etag=etag, metadata={"source-etag": etag})
        assert s3.info(bucket, "r/pinned").metadata == {"source-etag": etag}
        for overwrite in (False, True):  # the source is not what we saw: no copy, whichever conditions are sent
            with pytest.raises(PreconditionFailedError, match="r/obj changed"):
                s3.copy_object(bucket, "r/obj", bucket, "r/late", overwrite=overwrite, source_etag="0" * 32)
        assert not list(s3.iter_objects(bucket, "r/late"))
        assert urllib.request.urlopen(s3.presign_get(bucket, "r/obj", expires_in=60)).read() == bytes(range(256))
        expiring = s3.presign_get(bucket, "r/obj", expires_in=1)
        time.sleep(2.5)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(expiring)
        assert refused.value.code == 403


def test_anonymous_requests_are_refused(seaweed: EmbeddedS3, bucket: str, sw_config: S3TransferConfig) -> None:
    with S3Handler(sw_config) as s3:
        s3.put_bytes(bucket, "private", b"secret")
    for method in ("GET", "PUT"):
        request = urllib.request.Request(f"{seaweed.endpoint_url}/{bucket}/private", method=method, data=b"x"
                                         if method == "PUT" else None)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request)
        assert refused.value.code == 403
    unsigned = replace(sw_config, unsigned=True, access_key_id=None, secret_access_key=None)
    with S3Handler(unsigned) as anonymous, pytest.raises(AccessDeniedError):
        anonymous.get_bytes(bucket, "private")


PIPED_UPLOAD = """
import os, sys
from dataclasses import replace
from pathlib import Path
from lake_assets.s3 import S3Handler, S3ObjectRef, S3TransferConfig
config = S3TransferConfig(endpoint_url=sys.argv[1], region="us-east-1", access_key_id=sys.argv[2],
                          secret_access_key=os.environ["SECRET"], addressing_style="path", show_progress=True)
with S3Handler(config) as s3:
    result = s3.upload_objects(sys.argv[3], [S3ObjectRef("piped", Path(sys.argv[4]))], description="piped upload")
sys.stdout.write(repr(result))
"""


def test_progress_bars_do_not_break_when_output_is_not_a_terminal(seaweed: EmbeddedS3, bucket: str,
                                                                  tmp_path: Path) -> None:
    path = write_files(tmp_path, {"f": 2 * MiB})["f"]
    keys = seaweed.credentials()
    done = subprocess.run([sys.executable, "-c", PIPED_UPLOAD, seaweed.endpoint_url, keys.access_key_id, bucket,
                           str(path)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SECRET": keys.secret_access_key, "TERM": "dumb"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "(['piped'], [], [])"
    assert "piped upload" in done.stderr and "100%" in done.stderr
    assert "\x1b[" not in done.stderr


@pytest.mark.parametrize("engine", ["crt", "classic"])
def test_an_object_replaced_mid_download_fails_and_leaves_the_target_alone(
        sw_config: S3TransferConfig, bucket: str, tmp_path: Path, engine: str) -> None:
    original, replacement = os.urandom(20 * MiB), os.urandom(20 * MiB)
    target = tmp_path / "kept.bin"
    target.write_bytes(b"last good copy")
    replaced: list[bool] = []

    class ReplaceOnceTheSizeIsKnown(NoProgress):
        def add_total(self, amount: int) -> None:
            # Both engines learn the size from the first range, before they ask for any other.
            if not replaced:
                replaced.append(True)
                s3.put_bytes(bucket, "moving", replacement, overwrite=True)

    with S3Handler(replace(sw_config, engine=engine), progress=ReplaceOnceTheSizeIsKnown) as s3:
        s3.put_bytes(bucket, "moving", original)
        downloaded, _, failed = s3.download_objects(bucket, [S3ObjectRef("moving", target)], overwrite=True)
        assert replaced and (downloaded, failed) == ([], [target])
        assert isinstance(s3.failures[0].error, PreconditionFailedError)
    assert target.read_bytes() == b"last good copy" and list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("engine", ["crt", "classic"])
def test_both_engines_move_odd_keys_and_boundary_sizes_byte_for_byte(sw_config: S3TransferConfig, bucket: str,
                                                                     tmp_path: Path, engine: str) -> None:
    sizes = {"empty.bin": 0, "one byte": 1, "ünï cödé/a+b=c&d~e.bin": 64 * 1024,
             "exactly one part.bin": 8 * MiB, "one byte more.bin": 8 * MiB + 1}
    sources = write_files(tmp_path / "src", sizes)
    with S3Handler(replace(sw_config, engine=engine)) as s3:
        uploaded, skipped, failed = s3.upload_objects(bucket, [S3ObjectRef(key, path) for key, path in sources.items()])
        assert (sorted(uploaded), skipped, failed) == (sorted(sizes), [], [])
        # Only the object past the threshold goes in parts; the one of exactly 8 MiB is one PUT.
        # The fifth PUT and the DELETE are the multipart upload's commit claim.
        requests = s3.get_statistics()["requests"]
        assert requests["PutObject"] == 5 and requests["DeleteObject"] == 1 and requests["UploadPart"] == 2
        assert requests["CreateMultipartUpload"] == requests["CompleteMultipartUpload"] == 1
        targets = {key: tmp_path / "dst" / key for key in sizes}
        downloaded, _, failed = s3.download_objects(bucket, [S3ObjectRef(key, path) for key, path in targets.items()])
        assert sorted(downloaded) == sorted(targets.values()) and failed == []
        for key in sizes:
            assert targets[key].read_bytes() == sources[key].read_bytes(), key
            assert s3.client.head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == "AES256"
    assert not [p for p in (tmp_path / "dst").rglob("*") if p.name.endswith(".lake-part")]


def test_threads_sharing_a_handler_build_one_crt_client(sw_config: S3TransferConfig, bucket: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A range run's partitions download through one handler from four threads; the lazily built CRT client
    must be built once (a second one would leak its event loops and connections)."""
    import lake_assets.s3.handler as handler_module

    built: list[object] = []
    real = handler_module.crt_client_for

    def slow_build(config: S3TransferConfig) -> object:
        time.sleep(0.3)  # widen the window in which another thread could build a second one
        client = real(config)
        built.append(client)
        return client

    monkeypatch.setattr(handler_module, "crt_client_for", slow_build)
    files = write_files(tmp_path / "up", {f"k{i}": 1000 for i in range(4)})
    with S3Handler(replace(sw_config, engine="classic")) as s3:
        s3.upload_objects(bucket, [S3ObjectRef(key, path) for key, path in files.items()])
    with S3Handler(replace(sw_config, engine="crt")) as s3:
        threads = [threading.Thread(target=s3.download_batch, args=(bucket, [S3ObjectRef(key, tmp_path / key)]))
                   for key in files]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(built) == 1 and all((tmp_path / key).read_bytes() == path.read_bytes() for key, path in files.items())
