"""The transfer demo: a deterministic sample set, uploaded, downloaded back, verified, with statistics."""

from __future__ import annotations

import hashlib
import random
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from lake_assets.s3 import S3Handler, S3ObjectRef, S3TransferConfig
from lake_assets.s3.hive import hive_date_path

DEMO_BUCKET = "lake-demo"
DEMO_PREFIX = "demo/dataset=sample"


@dataclass(frozen=True)
class DemoReport:
    """What the demo moved and what it cost."""

    files: int
    bytes: int
    uploaded: int
    skipped: int
    downloaded: int
    failed: int
    mismatched: list[str]
    upload_stats: dict[str, Any]
    download_stats: dict[str, Any]


def make_sample(root: Path, small_files: int, small_size: int, large_size: int) -> list[S3ObjectRef]:
    """Write a deterministic sample under ``root``: many small daily files and one large one.

    The small files are keyed like a daily Hive dataset (one per day from 2024-01-01); the same
    arguments always produce the same bytes, so re-running the demo finds them already uploaded.
    """
    rng = random.Random(20240101)
    refs: list[S3ObjectRef] = []
    start = date(2024, 1, 1)
    for index in range(small_files):
        key = f"{DEMO_PREFIX}/{hive_date_path(start + timedelta(days=index))}/part-0.bin"
        refs.append(_write(root, key, rng.randbytes(small_size)))
    refs.append(_write(root, f"{DEMO_PREFIX}/large/blob.bin", rng.randbytes(large_size)))
    return refs


def _write(root: Path, key: str, data: bytes) -> S3ObjectRef:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.stat().st_size != len(data):
        path.write_bytes(data)
    return S3ObjectRef(key=key, local_path=path)


def sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def run_transfer_demo(config: S3TransferConfig, workdir: Path, small_files: int = 500,
                      small_size: int = 64 * 1024, large_size: int = 96 * 1024 * 1024) -> DemoReport:
    """Upload the sample to :data:`DEMO_BUCKET`, download it to a fresh folder, and compare hashes.

    Uploads use ``overwrite=False``, so a second run skips what the first one wrote (found by a
    LIST, not per-key HEADs) and still verifies every byte on the way back.
    """
    refs = make_sample(workdir / "source", small_files, small_size, large_size)
    target = workdir / "downloaded"
    shutil.rmtree(target, ignore_errors=True)
    back = [S3ObjectRef(ref.key, target / ref.key) for ref in refs]
    with S3Handler(config) as s3:
        uploaded, skipped, failed_up = s3.upload_objects(DEMO_BUCKET, refs, description="upload")
        upload_stats = s3.get_statistics()
        s3.reset_statistics()
        downloaded, _, failed_down = s3.download_objects(DEMO_BUCKET, back, description="download")
        download_stats = s3.get_statistics()
    mismatched = [ref.key for ref, copy in zip(refs, back, strict=True)
                  if not copy.local_path.exists() or sha256(ref.local_path) != sha256(copy.local_path)]
    return DemoReport(
        files=len(refs), bytes=sum(ref.local_path.stat().st_size for ref in refs),
        uploaded=len(uploaded), skipped=len(skipped), downloaded=len(downloaded),
        failed=len(failed_up) + len(failed_down), mismatched=mismatched,
        upload_stats=upload_stats, download_stats=download_stats,
    )
