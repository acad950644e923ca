"""One transfer by one client, in a process of its own, so the driver can time it and read its CPU.

Usage (the driver, ``bench/transfer.py``, builds these command lines)::

    python bench/clients.py CLIENT up|down LOCAL_DIR BUCKET PREFIX [CONCURRENCY]

Every client writes with SSE-S3 (AES256), as the lake does. Credentials and the endpoint come
from the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import boto3
from botocore.config import Config

REGION = "us-east-1"


def _files(local: Path) -> list[Path]:
    return sorted(path for path in local.iterdir() if path.is_file())


def _keys(bucket: str, prefix: str) -> list[str]:
    client = boto3.client("s3", region_name=REGION)
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def ours(direction: str, local: Path, bucket: str, prefix: str, concurrency: int, engine: str = "crt",
         overwrite: bool = False) -> None:
    """lake_assets' S3Handler, default settings but for the engine, the CRT window and ``overwrite``."""
    from lake_assets.s3 import S3Handler, S3ObjectRef, S3TransferConfig

    config = S3TransferConfig(endpoint_url=os.environ["AWS_ENDPOINT_URL"], region=REGION,
                              access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                              secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"], addressing_style="path",
                              show_progress=False, engine=engine,  # type: ignore[arg-type]
                              max_in_flight=concurrency or 64)
    with S3Handler(config) as s3:
        if direction == "up":
            refs = [S3ObjectRef(f"{prefix}/{path.name}", path) for path in _files(local)]
            _, _, failed = s3.upload_objects(bucket, refs, overwrite=overwrite)
        else:
            keys = [info.key for info in s3.iter_objects(bucket, f"{prefix}/")]  # a user lists with the handler
            refs = [S3ObjectRef(key, local / key.rsplit("/", 1)[1]) for key in keys]
            _, _, failed = s3.download_objects(bucket, refs)
    if failed:
        raise SystemExit(f"{len(failed)} failed: {s3.failures[:3]}")


def ours_classic(direction: str, local: Path, bucket: str, prefix: str, concurrency: int) -> None:
    """The same handler on its boto3-only engine."""
    ours(direction, local, bucket, prefix, concurrency, engine="classic")


def ours_overwrite(direction: str, local: Path, bucket: str, prefix: str, concurrency: int) -> None:
    """The handler with ``overwrite=True``: no existence check, no ``If-None-Match``, as s5cmd writes."""
    ours(direction, local, bucket, prefix, concurrency, overwrite=True)


def ours_unclaimed(direction: str, local: Path, bucket: str, prefix: str, concurrency: int) -> None:
    """The handler without commit claims on its multipart uploads: what the claim costs, uncontended."""
    from contextlib import nullcontext

    from lake_assets.s3.claims import CommitClaims

    CommitClaims.held = lambda self, bucket, key: nullcontext()  # type: ignore[method-assign]
    ours(direction, local, bucket, prefix, concurrency)


def boto3_loop(direction: str, local: Path, bucket: str, prefix: str, concurrency: int) -> None:
    """What a first script does: one client, one object after another."""
    client = boto3.client("s3", region_name=REGION)
    if direction == "up":
        for path in _files(local):
            client.put_object(Bucket=bucket, Key=f"{prefix}/{path.name}", Body=path.read_bytes(),
                              ServerSideEncryption="AES256")
    else:
        for key in _keys(bucket, prefix):
            (local / key.rsplit("/", 1)[1]).write_bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def transfer_manager(direction: str, local: Path, bucket: str, prefix: str, concurrency: int) -> None:
    """One shared s3transfer TransferManager, its pool as wide as its concurrency."""
    from s3transfer.manager import TransferConfig, TransferManager

    concurrency = concurrency or 32
    client = boto3.client("s3", region_name=REGION, config=Config(max_pool_connections=concurrency))
    with TransferManager(client, TransferConfig(max_request_concurrency=concurrency)) as manager:
        if direction == "up":
            futures = [manager.upload(str(path), bucket, f"{prefix}/{path.name}",
                                      extra_args={"ServerSideEncryption": "AES256"}) for path in _files(local)]
        else:
            futures = [manager.download(bucket, key, str(local / key.rsplit("/", 1)[1]))
                       for key in _keys(bucket, prefix)]
        for future in futures:
            future.result()


def metaflow(direction: str, local: Path, bucket: str, prefix: str, concurrency: int) -> None:
    """Metaflow's S3 client: put_files / get_all through its worker processes."""
    os.environ["METAFLOW_S3_ENDPOINT_URL"] = os.environ["AWS_ENDPOINT_URL"]
    os.environ["METAFLOW_S3_SERVER_SIDE_ENCRYPTION"] = "AES256"
    if concurrency:
        os.environ["METAFLOW_S3_WORKER_COUNT"] = str(concurrency)
    from metaflow import S3

    with S3(s3root=f"s3://{bucket}/{prefix}/", tmproot=str(local.parent)) as s3:
        if direction == "up":
            s3.put_files([(path.name, str(path)) for path in _files(local)])
        else:
            for obj in s3.get_all():
                os.replace(obj.path, local / obj.key.rsplit("/", 1)[-1])


CLIENTS: dict[str, Callable[[str, Path, str, str, int], None]] = {
    "ours": ours,
    "ours-classic": ours_classic,
    "ours-overwrite": ours_overwrite,
    "ours-unclaimed": ours_unclaimed,
    "boto3-loop": boto3_loop,
    "transfer-manager": transfer_manager,
    "metaflow": metaflow,
}


def main(argv: list[str]) -> None:
    """Run the transfer; print its own duration, imports excluded, as JSON on stdout."""
    client, direction, local, bucket, prefix = argv[:5]
    concurrency = int(argv[5]) if len(argv) > 5 else 0
    start = time.perf_counter()
    CLIENTS[client](direction, Path(local), bucket, prefix, concurrency)
    print(json.dumps({"transfer": time.perf_counter() - start}))


if __name__ == "__main__":
    main(sys.argv[1:])
