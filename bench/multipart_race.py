"""Do two writers of one new key both win? Conditional writes raced on the embedded SeaweedFS.

    .venv/bin/python bench/multipart_race.py --trials 40 [--writers 2] [--burners 2] [--modes ...]

Each trial gives every writer its own boto3 client (retries off) or its own ``S3Handler``, holds
them at a barrier, and lets them write the same new key with ``If-None-Match: *``. A trial is a
**double win** when more than one writer was told it succeeded, and **lost** when none was (or the
key does not hold a winner's bytes); afterwards no multipart upload and no commit claim may be left.

Modes:

- ``put``: one PutObject each (1 KiB), plain boto3;
- ``complete``: plain boto3, each writer uploads two parts (5 MiB + 1 KiB) of its own multipart
  upload to the key, then CompleteMultipartUpload at the barrier: the server alone decides;
- ``ours-single`` / ``ours-multipart``: ``S3Handler.upload_objects`` with 1 KiB / 9 MiB files
  (the multipart path holds a commit claim while it completes, see ``lake_assets/s3/claims.py``);
- ``ours-mixed``: the same, even writers with 1 KiB files and odd ones with 9 MiB: a single PUT
  against a claimed completion, which the claim cannot serialise.

``--burners N`` runs N CPU-bound processes beside the trials, as a loaded CI machine would.
Prints one Markdown row per mode; ``bench/RESULTS.md`` keeps the figures with this command.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from lake_assets.local_s3 import EmbeddedS3, free_ports
from lake_assets.s3 import S3Handler, S3ObjectRef, S3TransferConfig
from lake_assets.s3.config import MiB

BUCKET = "race"
MODES = ("put", "complete", "ours-single", "ours-multipart", "ours-mixed")
Writer = Callable[[int, str, threading.Barrier], bool]


def _burn(stop_at: float) -> None:
    while time.monotonic() < stop_at:
        sum(i * i for i in range(10_000))


def _boto3_client(config: S3TransferConfig):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=config.endpoint_url, region_name=config.region,
                        aws_access_key_id=config.access_key_id, aws_secret_access_key=config.secret_access_key,
                        config=Config(retries={"max_attempts": 1, "mode": "standard"},
                                      s3={"addressing_style": "path"}))


def _won(call: Callable[[], object]) -> bool:
    try:
        call()
    except ClientError as exc:
        if exc.response["ResponseMetadata"]["HTTPStatusCode"] in (409, 412):
            return False
        raise
    return True


def _put_writer(config: S3TransferConfig) -> Writer:
    def write(writer: int, key: str, barrier: threading.Barrier) -> bool:
        client = _boto3_client(config)
        body = f"writer-{writer}".encode() * 100
        barrier.wait()
        return _won(lambda: client.put_object(Bucket=BUCKET, Key=key, Body=body, IfNoneMatch="*"))
    return write


def _complete_writer(config: S3TransferConfig) -> Writer:
    def write(writer: int, key: str, barrier: threading.Barrier) -> bool:
        client = _boto3_client(config)
        upload = client.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
        parts = []
        for number, body in enumerate((bytes([writer]) * 5 * MiB, b"x" * 1024), start=1):
            etag = client.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=number, Body=body)["ETag"]
            parts.append({"PartNumber": number, "ETag": etag})
        barrier.wait()
        won = _won(lambda: client.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload,
                                                            MultipartUpload={"Parts": parts}, IfNoneMatch="*"))
        if not won:
            client.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload)
        return won
    return write


def _handler_writer(config: S3TransferConfig, sizes: tuple[int, ...], root: Path) -> Writer:
    def write(writer: int, key: str, barrier: threading.Barrier) -> bool:
        path = root / f"{uuid.uuid4().hex}.bin"
        path.write_bytes(os.urandom(sizes[writer % len(sizes)]))
        with S3Handler(config) as s3:
            barrier.wait()
            uploaded, skipped, failed = s3.upload_objects(BUCKET, [S3ObjectRef(key, path)])
        if failed:
            raise SystemExit(f"writer {writer} failed: {s3.failures}")
        return uploaded == [key]
    return write


def run_mode(write: Writer, trials: int, writers: int, config: S3TransferConfig) -> dict[str, int]:
    """Race ``writers`` writers ``trials`` times; count double wins, lost keys and leftovers."""
    counts = {"trials": trials, "double_wins": 0, "lost": 0}
    for trial in range(trials):
        key = f"trial-{uuid.uuid4().hex[:8]}/{trial}"
        barrier = threading.Barrier(writers)
        wins: list[int] = []
        threads = [threading.Thread(target=lambda n=n: wins.append(n) if write(n, key, barrier) else None)
                   for n in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        counts["double_wins"] += len(wins) > 1
        counts["lost"] += len(wins) == 0
    client = _boto3_client(config)
    counts["open_uploads"] = len(client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []))
    counts["claims_left"] = client.list_objects_v2(Bucket=BUCKET, Prefix=config.claim_prefix)["KeyCount"]
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--burners", type=int, default=0, help="CPU-bound processes beside the trials")
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="race-", dir=os.environ.get("LAKE_BENCH_DIR")) as tmp:
        server = EmbeddedS3(Path(tmp) / "server", free_ports(), memory_limit="2GiB")
        server.start()
        burners: list[multiprocessing.Process] = []
        try:
            server.ensure_buckets(BUCKET)
            config = server.transfer_config(show_progress=False, retry_attempts=0)
            root = Path(tmp) / "files"
            root.mkdir()
            writers: dict[str, Writer] = {
                "put": _put_writer(config), "complete": _complete_writer(config),
                "ours-single": _handler_writer(config, (1024,), root),
                "ours-multipart": _handler_writer(config, (9 * MiB,), root),
                "ours-mixed": _handler_writer(config, (1024, 9 * MiB), root)}
            burners = [multiprocessing.Process(target=_burn, args=(time.monotonic() + 3600,), daemon=True)
                       for _ in range(args.burners)]
            for burner in burners:
                burner.start()
            print(f"{args.writers} writers, {args.burners} CPU burners, SeaweedFS on {server.endpoint_url}")
            print("| mode | trials | double wins | lost | open uploads | claims left |")
            print("| --- | ---: | ---: | ---: | ---: | ---: |")
            for mode in args.modes.split(","):
                counts = run_mode(writers[mode], args.trials, args.writers, config)
                print(f"| {mode} | {counts['trials']} | {counts['double_wins']} | {counts['lost']} | "
                      f"{counts['open_uploads']} | {counts['claims_left']} |", flush=True)
        finally:
            for burner in burners:
                burner.terminate()
            server.stop()


if __name__ == "__main__":
    main()
