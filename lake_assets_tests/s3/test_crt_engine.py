"""The CRT engine's own logic, without a server: headers, error mapping, the request window's retries, the parts'
connections, and existence checks with their fallback to boto3."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lake_assets.s3 import S3ObjectRef, S3TransferConfig
from lake_assets.s3.crt import CrtResponse, download_parts, write_headers
from lake_assets.s3.crt_batch import Job, RequestWindow
from lake_assets.s3.crt_keys import CrtKeys, parse_list_page
from lake_assets.s3.errors import PreconditionFailedError
from lake_assets.s3.stats import TransferStatistics
from lake_assets.s3.translate import classify

NO_SUCH_KEY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
               b'<Message>The specified key does not exist.</Message></Error>')


def test_write_headers_ask_for_encryption_condition_and_metadata() -> None:
    config = S3TransferConfig(encryption_type="aws:kms", kms_key_id="key-1", bucket_key_enabled=True)
    assert write_headers(config, overwrite=False, metadata={"source-etag": "abc"}) == {
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": "key-1",
        "x-amz-server-side-encryption-bucket-key-enabled": "true",
        "If-None-Match": "*",
        "x-amz-meta-source-etag": "abc",
    }
    assert write_headers(S3TransferConfig(enable_encryption=False), overwrite=True, metadata=None) == {}


@pytest.mark.parametrize(("cores", "concurrency", "connections"), [(2, 20, 4), (4, 20, 8), (16, 20, 10), (2, 5, 2),
                                                                   (None, 20, 2), (2, 1, 1)])
def test_a_large_downloads_parts_are_two_chunks_over_at_most_two_connections_per_core(
        monkeypatch: pytest.MonkeyPatch, cores: int | None, concurrency: int, connections: int) -> None:
    monkeypatch.setattr("lake_assets.s3.crt.os.cpu_count", lambda: cores)
    config = S3TransferConfig(max_concurrency=concurrency)
    assert download_parts(config) == (16 * 1024 * 1024, connections)
    if concurrency > 1:
        assert connections * 16 * 1024 * 1024 <= concurrency * config.multipart_chunksize


def test_an_s3_error_body_becomes_the_client_error_botocore_would_raise() -> None:
    error = CrtResponse("GetObject", status=404, error=RuntimeError("crt"), error_body=NO_SUCH_KEY).as_exception(3)
    assert isinstance(error, ClientError)
    assert error.response["Error"]["Code"] == "NoSuchKey"
    assert error.response["ResponseMetadata"] == {"HTTPStatusCode": 404, "RetryAttempts": 2}
    assert "does not exist" in str(classify(error, operation="GetObject", bucket="b", key="k"))


def test_a_412_without_a_body_is_still_a_precondition_failure() -> None:
    error = CrtResponse("PutObject", status=412, error=RuntimeError("crt")).as_exception(1)
    assert isinstance(classify(error, operation="PutObject", bucket="b", key="k"), PreconditionFailedError)


@pytest.mark.parametrize(("status", "retryable"), [(None, True), (500, True), (503, True), (409, True),
                                                   (403, False), (404, False), (412, False)])
def test_which_responses_are_worth_another_attempt(status: int | None, retryable: bool) -> None:
    assert CrtResponse("PutObject", status=status, error=RuntimeError("x")).retryable is retryable


class _FakeRequest:
    """Stands in for ``awscrt.s3.S3Request``: the window only cancels it and waits for it."""

    def __init__(self) -> None:
        self.finished_future: Future[None] = Future()
        self.finished_future.set_result(None)

    def cancel(self) -> None:
        pass


def _answering(statuses: dict[str, list[int | None]]) -> Callable[[Job, Callable[[CrtResponse], None]], Any]:
    """A ``send`` whose n-th attempt at a key answers the n-th status listed for it, from another thread."""
    def send(job: Job, on_done: Callable[[CrtResponse], None]) -> _FakeRequest:
        status = statuses[job.ref.key][job.attempts - 1]
        response = CrtResponse("PutObject", status=status, error=None if status == 200 else RuntimeError("x"))
        threading.Thread(target=on_done, args=(response,)).start()
        return _FakeRequest()
    return send


def test_the_window_retries_retryable_answers_and_counts_every_request(tmp_path: Path) -> None:
    stats = TransferStatistics()
    config = S3TransferConfig(retry_attempts=2, max_in_flight=2)
    statuses: dict[str, list[int | None]] = {"ok": [200], "flaky": [503, None, 200], "gone": [503, 503, 503],
                                             "denied": [403]}
    jobs = [Job(S3ObjectRef(key, tmp_path / key), Future()) for key in statuses]
    settled: dict[str, int | None] = {}
    RequestWindow(config, stats, "PutObject").run(
        jobs, _answering(statuses), lambda job, response: settled.__setitem__(job.ref.key, response.status))
    assert settled == {"ok": 200, "flaky": 200, "gone": 503, "denied": 403}
    assert [job.attempts for job in jobs] == [1, 3, 3, 1]
    snapshot = stats.snapshot()
    assert snapshot["requests"] == {"PutObject": 8} and snapshot["retries"] == 4


def test_follow_up_jobs_from_settle_are_sent_in_the_same_window(tmp_path: Path) -> None:
    stats = TransferStatistics()
    first = Job(S3ObjectRef("first", tmp_path / "first"), Future())
    later = [Job(S3ObjectRef(f"part-{i}", tmp_path / "first"), Future()) for i in range(3)]
    statuses: dict[str, list[int | None]] = {"first": [200], **{job.ref.key: [200] for job in later}}
    order: list[str] = []

    def settle(job: Job, response: CrtResponse) -> list[Job] | None:
        order.append(job.ref.key)
        return later if job is first else None

    RequestWindow(S3TransferConfig(max_in_flight=8), stats, "GetObject").run([first], _answering(statuses), settle)
    assert order[0] == "first" and sorted(order[1:]) == ["part-0", "part-1", "part-2"]
    assert stats.snapshot()["requests"] == {"GetObject": 4}


def list_page(keys: list[str], token: str | None = None) -> bytes:
    contents = "".join(f"<Contents><Key>{key}</Key><Size>1</Size></Contents>" for key in keys)
    more = f"<IsTruncated>true</IsTruncated><NextContinuationToken>{token}</NextContinuationToken>" if token else (
        "<IsTruncated>false</IsTruncated>")
    return (f'<?xml version="1.0"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"{more}{contents}<EncodingType>url</EncodingType></ListBucketResult>").encode()


def test_a_list_page_gives_its_keys_decoded_and_its_token() -> None:
    assert parse_list_page(list_page(["a/b+c%2Bd%3D1", "%C3%A9"], token="t1")) == (["a/b c+d=1", "é"], "t1")
    assert parse_list_page(list_page([])) == ([], None)
    assert parse_list_page(NO_SUCH_KEY) is None
    assert parse_list_page(b"<html>a proxy's page</html>") is None
    assert parse_list_page(b"not xml") is None
    truncated_without_token = list_page(["a"]).replace(b"<IsTruncated>false", b"<IsTruncated>true")
    assert parse_list_page(truncated_without_token) is None


class FakeCrt:
    """Answers HEADs with ``heads`` and LIST pages with ``pages`` in turn, recording what was asked."""

    def __init__(self, heads: dict[str, int | None], pages: list[tuple[int | None, bytes]]) -> None:
        self.heads, self.pages, self.asked = heads, pages, []

    def head_object(self, bucket: str, key: str) -> int | None:
        return self.heads[key]

    def list_page(self, bucket: str, prefix: str, start_after: str | None,
                  token: str | None) -> tuple[int | None, bytes]:
        self.asked.append((start_after, token))
        return self.pages.pop(0)


class FakeBoto:
    """The fallback: records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None]] = []

    def exists(self, bucket: str, key: str) -> bool:
        self.asked.append(("exists", key))
        return True

    def keys(self, bucket: str, prefix: str, start_after: str | None) -> Iterator[str]:
        self.asked.append(("keys", start_after))
        yield "p/z"


def test_the_crt_answers_existence_and_boto3_answers_what_it_does_not_understand() -> None:
    crt, boto, stats = FakeCrt({"200": 200, "404": 404, "403": 403, "lost": None}, []), FakeBoto(), TransferStatistics()
    keys = CrtKeys(crt, boto, stats)  # type: ignore[arg-type]
    assert [keys.exists("b", key) for key in ("200", "404", "403", "lost")] == [True, False, True, True]
    assert boto.asked == [("exists", "403"), ("exists", "lost")]  # boto3 retries, or raises the named error
    assert stats.snapshot()["requests"] == {"HeadObject": 4}


def test_a_listing_follows_its_tokens_and_boto3_resumes_after_the_last_key_the_crt_gave() -> None:
    crt = FakeCrt({}, [(200, list_page(["p/a", "p/b"], token="t1")),
                       (500, b"<Error><Code>InternalError</Code></Error>")])
    boto = FakeBoto()
    keys = CrtKeys(crt, boto, TransferStatistics())  # type: ignore[arg-type]
    assert list(keys.keys("b", "p/", None)) == ["p/a", "p/b", "p/z"]
    assert crt.asked == [(None, None), ("p/b", "t1")]
    assert boto.asked == [("keys", "p/b")]
