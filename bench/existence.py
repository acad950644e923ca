"""Existence check benchmark: which of 10,000 keys exist, half of them present.

    .venv/bin/python bench/existence.py [--keys 10000] [--runs 5] [--extra 0]

Uploads every other key of ``--keys`` sorted keys under ``exist/`` (plus ``--extra`` unrelated
objects under the same prefix, to show where listing stops paying), then answers "which exist?"
with each method, one warm-up and ``--runs`` measured: time, requests the server saw, and whether
the answer equals the truth exactly.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import boto3

from lake_assets.local_s3 import EmbeddedS3, free_ports
from lake_assets.s3 import S3Handler, S3ObjectRef

sys.path.insert(0, str(Path(__file__).resolve().parent))
from transfer import request_counts  # noqa: E402  (bench/ is not a package)

BUCKET = "exist"


def seed(server: EmbeddedS3, keys: list[str], extra: int, work: Path) -> set[str]:
    """Upload every other key and ``extra`` unrelated ones; return the keys that exist."""
    placeholder = work / "x"
    placeholder.write_bytes(b"x")
    present = set(keys[::2])
    unrelated = [f"exist/other-{i:07d}" for i in range(extra)]
    with S3Handler(server.transfer_config(show_progress=False)) as s3:
        s3.upload_objects(BUCKET, [S3ObjectRef(key, placeholder) for key in sorted(present) + unrelated])
    return present


def ours(server: EmbeddedS3, threshold: int | None) -> Callable[[list[str]], set[str]]:
    """The handler's ``existing_keys``: LIST by prefix above its threshold, HEAD per key below."""
    overrides = {"existence_check_threshold": threshold} if threshold else {}

    def check(keys: list[str]) -> set[str]:
        with S3Handler(server.transfer_config(show_progress=False, **overrides)) as s3:
            return s3.existing_keys(BUCKET, keys)
    return check


def head_loop(server: EmbeddedS3) -> Callable[[list[str]], set[str]]:
    """A plain boto3 loop: one HEAD after another."""
    keys_ = server.credentials()

    def check(keys: list[str]) -> set[str]:
        client = boto3.client("s3", endpoint_url=server.endpoint_url, region_name="us-east-1",
                              aws_access_key_id=keys_.access_key_id, aws_secret_access_key=keys_.secret_access_key)
        found = set()
        for key in keys:
            try:
                client.head_object(Bucket=BUCKET, Key=key)
                found.add(key)
            except client.exceptions.ClientError:
                pass
        return found
    return check


def s5cmd_ls(server: EmbeddedS3) -> Callable[[list[str]], set[str]]:
    """``s5cmd ls`` of the prefix (a LIST), intersected with the keys asked about."""
    keys_ = server.credentials()
    env = {"AWS_ACCESS_KEY_ID": keys_.access_key_id, "AWS_SECRET_ACCESS_KEY": keys_.secret_access_key,
           "AWS_REGION": "us-east-1", "PATH": "/usr/bin:/bin"}

    def check(keys: list[str]) -> set[str]:
        out = subprocess.run([str(Path(sys.executable).parent / "s5cmd"), "--endpoint-url", server.endpoint_url,
                              "ls", f"s3://{BUCKET}/exist/*"], env=env, capture_output=True, text=True, check=True)
        listed = {f"exist/{line.split()[-1]}" for line in out.stdout.splitlines() if line.strip()}
        return listed & set(keys)
    return check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--extra", type=int, default=0)
    args = parser.parse_args()
    keys = [f"exist/key-{i:07d}" for i in range(args.keys)]
    with tempfile.TemporaryDirectory() as work:
        metrics_port = free_ports().s3
        server = EmbeddedS3(Path(work) / "s3", free_ports(), metrics_port=metrics_port)
        server.start()
        try:
            server.ensure_buckets(BUCKET)
            truth = seed(server, keys, args.extra, Path(work))
            methods = {"ours (auto: LIST mode)": ours(server, None),
                       "ours, HEAD per key (20 threads)": ours(server, 10 ** 9),
                       "boto3 HEAD loop": head_loop(server),
                       "s5cmd ls (LIST)": s5cmd_ls(server)}
            print(f"| method ({args.keys} keys, half present, {args.extra} unrelated) | median s | requests | exact |")
            print("| --- | ---: | ---: | --- |")
            for name, check in methods.items():
                check(keys)  # warm-up
                times, requests, exact = [], [], True
                for _ in range(args.runs):
                    before = sum(request_counts(metrics_port).values())
                    began = time.perf_counter()
                    answer = check(keys)
                    times.append(time.perf_counter() - began)
                    requests.append(int(sum(request_counts(metrics_port).values()) - before))
                    exact = exact and answer == truth
                print(f"| {name} | {statistics.median(times):.3f} | {statistics.median(requests)} | "
                      f"{'yes' if exact else 'NO'} |", flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
