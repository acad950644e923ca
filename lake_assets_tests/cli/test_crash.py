"""Killed with SIGKILL part-way, then run again: transfers complete, byte-identical, with nothing left behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from lake_assets.cli import main
from lake_assets.local_s3 import EmbeddedS3, Ports, free_ports
from lake_assets.s3 import S3Error, S3Handler, S3ObjectRef, S3TransferConfig
from lake_assets.s3.config import MiB
from lake_assets.s3.download import PART_SUFFIX
from lake_assets_tests.cli.test_cli import LAGGING, ROOT, assert_everything_written_is_encrypted
from lake_assets_tests.conftest import write_files

pytestmark = pytest.mark.integration

CHILD = """
import os, sys, time
from pathlib import Path
from lake_assets.s3 import S3Handler, S3ObjectRef, S3TransferConfig
from lake_assets.s3 import crt, crt_batch, upload
def slowly(real, seconds):
    def slow(*args, **kwargs):
        time.sleep(seconds)
        return real(*args, **kwargs)
    return slow
os.pwrite = slowly(os.pwrite, 0.05)  # a slow disk, for the classic engine's ranges and the CRT's tail
upload.FileUploader._upload_part = slowly(upload.FileUploader._upload_part, 0.5)  # a slow network
moment = sys.argv[7]
if moment == "crt-after-tail":  # the large object's head is asked for late
    crt.CrtClient.get_head = slowly(crt.CrtClient.get_head, 60)
if moment == "crt-before-rename":  # every byte is in, the rename comes late
    crt_batch.commit_part_file = slowly(crt_batch.commit_part_file, 60)
config = S3TransferConfig(endpoint_url=sys.argv[1], region="us-east-1", access_key_id=sys.argv[2],
                          secret_access_key=os.environ["SECRET"], addressing_style="path", show_progress=False,
                          max_concurrency=2, engine="classic" if moment == "classic" else "crt")
with S3Handler(config) as s3:
    ref = S3ObjectRef(sys.argv[5], Path(sys.argv[4]))
    (s3.download_objects if sys.argv[6] == "down" else s3.upload_objects)(sys.argv[3], [ref])
"""


def start_child(seaweed: EmbeddedS3, bucket: str, path: Path, key: str, direction: str,
                moment: str = "crt") -> subprocess.Popen[bytes]:
    """A process transferring one file, slowed (or stopped) at ``moment`` so that it can be killed there."""
    keys = seaweed.credentials()
    return subprocess.Popen([sys.executable, "-c", CHILD, seaweed.endpoint_url, keys.access_key_id, bucket,
                             str(path), key, direction, moment], env={**os.environ, "SECRET": keys.secret_access_key})


def kill_when(child: subprocess.Popen[bytes], ready: object, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not ready():  # type: ignore[operator]
        assert child.poll() is None and time.monotonic() < deadline, "the child never got going"
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()


def _parts(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.endswith(PART_SUFFIX)]


@pytest.mark.parametrize(("moment", "parts_left"), [
    ("classic", 1),  # mid-way through the ranges, written by Python into one file
    ("crt-after-tail", 1),  # the tail is in its file, the head not asked for yet
    ("crt-before-rename", 2),  # the head and the tail are both complete, not yet joined and renamed
])
def test_a_killed_download_leaves_no_file_and_the_next_run_completes_and_cleans_up(
        seaweed: EmbeddedS3, sw_config: S3TransferConfig, bucket: str, tmp_path: Path, moment: str,
        parts_left: int) -> None:
    data = os.urandom(24 * MiB)
    with S3Handler(sw_config) as s3:
        s3.put_bytes(bucket, "big", data)
    target = tmp_path / "out" / "big"
    target.parent.mkdir()
    child = start_child(seaweed, bucket, target, "big", "down", moment)
    kill_when(child, lambda: sum(1 for p in _parts(target.parent) if p.stat().st_size) >= parts_left)
    assert not target.exists()
    left = list(target.parent.iterdir())
    assert len(left) == parts_left and all(p.name.startswith(f".big.{child.pid}.") for p in left), left
    assert _parts(target.parent) == left
    with S3Handler(sw_config) as s3:
        assert s3.download_objects(bucket, [S3ObjectRef("big", target)]) == ([target], [], [])
    assert target.read_bytes() == data and list(target.parent.iterdir()) == [target]


def test_a_killed_multipart_upload_is_redone_and_its_open_upload_aborted(
        seaweed: EmbeddedS3, sw_config: S3TransferConfig, bucket: str, tmp_path: Path) -> None:
    source = write_files(tmp_path, {"big": 40 * MiB})["big"]
    child = start_child(seaweed, bucket, source, "lake/big", "up")
    with S3Handler(sw_config) as s3:
        kill_when(child, lambda: s3.client.list_multipart_uploads(Bucket=bucket).get("Uploads"))
        assert not list(s3.iter_objects(bucket, "lake/"))  # no partial object is visible
        assert s3.upload_objects(bucket, [S3ObjectRef("lake/big", source)]) == (["lake/big"], [], [])
        assert s3.get_bytes(bucket, "lake/big") == source.read_bytes()
        assert s3.info(bucket, "lake/big").server_side_encryption == "AES256"
        assert s3.abort_incomplete_uploads(bucket, older_than=timedelta(hours=1)) == []  # too young to judge
        assert s3.abort_incomplete_uploads(bucket, older_than=timedelta(0)) == ["lake/big"]
        assert s3.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def daemons_serving(workspace: str) -> list[int]:
    """The pids of the ``dagster-daemon`` processes running on ``workspace``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # not a process, or gone
            continue
        if any(arg.endswith(b"dagster-daemon") for arg in argv) and workspace.encode() in argv:
            found.append(int(entry.name))
    return found


def test_a_backfill_killed_part_way_completes_when_run_again(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             no_lake_settings: None) -> None:
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", dagster_home)
    for name in [n for n in os.environ if n.startswith(("LAKE_S3_", "VENDOR_S3_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    port = free_ports().s3
    base = ["--home", str(tmp_path / "lake"), "--port", str(port), "--dagster-home", str(dagster_home)]
    server = EmbeddedS3(tmp_path / "lake" / "s3", Ports(port))
    with (tmp_path / "first-run.log").open("wb") as log:
        child = subprocess.Popen([sys.executable, "-m", "lake_assets.cli", *base, "run", *LAGGING], stdout=log, stderr=log)
    try:
        def curated_some() -> bool:
            if server.running_pid() is None or not (server.home / "credentials.json").exists():
                return False
            try:
                with S3Handler(server.transfer_config(show_progress=False)) as s3:
                    return sum(1 for _ in s3.iter_objects("lake", "curated/")) >= 20
            except S3Error:  # not listening yet, or the bucket not made yet
                return False

        kill_when(child, curated_some, within=240.0)  # the daemon starts, a sensor ticks, a run starts
        workspace = str(dagster_home / "lake-run" / "workspace.yaml")
        deadline = time.monotonic() + 30
        while daemons_serving(workspace) and time.monotonic() < deadline:  # SIGTERM from Linux, then a clean exit
            time.sleep(0.5)
        assert daemons_serving(workspace) == []  # the killed `lake run` took its daemon with it
        assert main([*base, "run", *LAGGING]) == 0  # reuses the server the killed run left behind
        assert "full coverage" in capsys.readouterr().out
        with S3Handler(server.transfer_config(show_progress=False)) as s3:
            assert all(s3.client.list_multipart_uploads(Bucket=b).get("Uploads", []) == [] for b in ("vendor", "lake"))
    finally:
        if child.poll() is None:  # the test failed before it killed the child
            child.kill()
            child.wait()
        server.stop()
    assert_everything_written_is_encrypted(server)
