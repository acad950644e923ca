"""The embedded SeaweedFS: loopback only, keys required, memory-capped, persistent, clear about ports."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from lake_assets.local_s3 import EmbeddedS3, PortInUseError, Ports, free_ports
from lake_assets.local_s3.server import MAX_VOLUMES
from lake_assets.s3 import S3Handler

pytestmark = pytest.mark.integration


def listening_sockets(pid: int) -> dict[int, str]:
    """Map each TCP port ``pid`` listens on to its local address (hex, from /proc/net/tcp{,6})."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    found: dict[int, str] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found[int(port, 16)] = address
    return found


def test_every_listening_socket_is_on_loopback(seaweed: EmbeddedS3) -> None:
    pid = seaweed.running_pid()
    assert pid is not None
    sockets = listening_sockets(pid)
    assert seaweed.ports.s3 in sockets and len(sockets) >= 8
    assert set(sockets) <= set(seaweed.ports.all().values()), "only the ports derived from the S3 port"
    assert set(sockets.values()) == {"0100007F"}  # 127.0.0.1, little-endian hex; nothing on 0.0.0.0 or ::


def test_server_runs_memory_capped_with_private_keys_and_local_sockets(seaweed: EmbeddedS3) -> None:
    pid = seaweed.running_pid()
    assert pid is not None
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"GOMEMLIMIT=2GiB" in environ
    for name in ("credentials.json", "identities.json"):
        assert stat.S_IMODE((seaweed.home / name).stat().st_mode) == 0o600
    assert {p.name for p in (seaweed.home / "run").glob("*.sock")} == {"filer.sock", "s3.sock"}
    assert any((seaweed.home / "logs").iterdir())


def test_a_taken_port_gives_a_clear_error(seaweed: EmbeddedS3, tmp_path: Path) -> None:
    rival = EmbeddedS3(tmp_path / "rival", Ports(seaweed.ports.s3))
    with pytest.raises(PortInUseError, match=rf"{seaweed.ports.s3} \(s3\).*another S3 port"):
        rival.start()
    assert rival.running_pid() is None


def test_port_range_is_validated() -> None:
    with pytest.raises(ValueError, match="S3 port"):
        Ports(60000)


def test_data_survives_a_restart_and_status_tells_the_state(tmp_path: Path) -> None:
    server = EmbeddedS3(tmp_path / "home", free_ports())
    server.start()
    try:
        assert server.status().running
        server.ensure_buckets("keep")
        with S3Handler(server.transfer_config(show_progress=False)) as s3:
            s3.put_bytes("keep", "k", b"persisted")
        assert server.stop() is True
        assert not server.status().running and server.stop() is False
        server.start()
        with S3Handler(server.transfer_config(show_progress=False)) as s3:
            assert s3.get_bytes("keep", "k") == b"persisted"
        assert server.status().data_bytes > 0
    finally:
        server.stop()


def test_a_stale_pid_file_is_ignored(tmp_path: Path) -> None:
    server = EmbeddedS3(tmp_path / "home", free_ports())
    (server.home / "run").mkdir(parents=True)
    (server.home / "run" / "weed.pid").write_text("999999 1\n")
    assert server.running_pid() is None
    assert not (server.home / "run" / "weed.pid").exists()


def test_more_buckets_than_free_gibibytes_all_take_writes(tmp_path: Path) -> None:
    """`weed mini` would allow free disk / 1 GiB volumes, and every bucket takes one: past that, every write to
    a new bucket was a 500. The embedded server sets its own bound (MAX_VOLUMES)."""
    home = tmp_path / "home"
    home.mkdir()
    buckets = int(shutil.disk_usage(home).free / 2**30) + 5
    assert buckets < MAX_VOLUMES
    server = EmbeddedS3(home, free_ports())
    server.start()
    try:
        names = [f"b-{index:04d}" for index in range(buckets)]
        server.ensure_buckets(*names)
        with S3Handler(server.transfer_config(show_progress=False)) as s3:
            for name in names:
                s3.put_bytes(name, "k", b"x")
            assert all(s3.get_bytes(name, "k") == b"x" for name in names[-5:])
    finally:
        server.stop()
