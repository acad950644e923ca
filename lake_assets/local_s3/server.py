"""Start, stop and inspect the embedded SeaweedFS (``weed mini``) the project runs against.

SeaweedFS's defaults are unsafe for a developer machine, so every one that matters is overridden: it binds 127.0.0.1
only, requires access keys (no anonymous access), sends no telemetry, refuses to delete non-empty buckets, does not
create buckets on upload, runs no WebDAV, admin UI, Iceberg or Lance listener, keeps its logs and HTTP sockets under
the project's data directory, and is held to a memory limit (``GOMEMLIMIT``). Data persists under ``home`` across
restarts.

``weed mini`` listens on five HTTP ports and their gRPC twins (HTTP port + 10000). All are derived from one S3 port,
so a second instance (the test suite's) runs beside a developer's by choosing another S3 port. SeaweedFS 4.48
hard-codes its gRPC unix sockets to ``/tmp/seaweedfs-<service>-grpc-<port>.sock`` (no flag moves them); it removes
them on a clean stop.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lake_assets.local_s3.ports import EmbeddedS3Error, PortInUseError, Ports, busy_ports
from lake_assets.local_s3.process import is_weed, weed_binary
from lake_assets.s3 import S3TransferConfig

logger = logging.getLogger(__name__)

#: Region the embedded server is addressed with; SeaweedFS accepts any, boto3 needs one.
LOCAL_REGION = "us-east-1"


@dataclass(frozen=True)
class Credentials:
    """One access key pair of the embedded server; the secret never appears in ``repr``."""

    access_key_id: str
    secret_access_key: str = field(repr=False)


@dataclass(frozen=True)
class ServerStatus:
    """What ``lake s3 status`` reports."""

    running: bool
    pid: int | None
    endpoint_url: str
    home: Path
    data_bytes: int


#: The server's identities and what each may do: ``standby`` is a second administrator, so that a
#: client can rotate between two keys (as role credentials do) against one server.
IDENTITIES = {
    "admin": ["Admin", "Read", "List", "Tagging", "Write"],
    "reader": ["Read", "List"],
    "standby": ["Admin", "Read", "List", "Tagging", "Write"],
}

#: Volumes the embedded server may create: one per bucket at least, whatever the free disk space.
MAX_VOLUMES = 1000


class EmbeddedS3:
    """One SeaweedFS ``weed mini`` process whose data, logs, sockets and keys live under ``home``.

    Layout of ``home``: ``data/`` (volumes and metadata), ``logs/``, ``run/`` (sockets, pid file),
    ``credentials.json`` and ``identities.json`` (mode 0600). Keys are generated on first start and
    kept, so clients configured once keep working across restarts. Three identities exist: ``admin``
    (read, write, list, admin), ``reader`` (read and list only) and ``standby`` (a second admin). ``metrics_port``, when given,
    serves Prometheus metrics on loopback (S3 requests by type; the benchmarks count with it).
    """

    def __init__(self, home: Path, ports: Ports | None = None, memory_limit: str = "1GiB",
                 ready_timeout: float = 60.0, metrics_port: int | None = None) -> None:
        self.home = home.resolve()
        self.ports = ports or Ports()
        self.memory_limit = memory_limit
        self.ready_timeout = ready_timeout
        self.metrics_port = metrics_port
        self._process: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ paths and keys

    @property
    def endpoint_url(self) -> str:
        """The S3 endpoint, on loopback."""
        return f"http://127.0.0.1:{self.ports.s3}"

    @property
    def _pid_file(self) -> Path:
        return self.home / "run" / "weed.pid"

    @property
    def log_file(self) -> Path:
        """Where the server's console output goes; its glog files sit beside it."""
        return self.home / "logs" / "weed.out"

    def credentials(self, identity: str = "admin") -> Credentials:
        """Return the keys of ``identity`` (one of :data:`IDENTITIES`), creating missing ones on first use."""
        if identity not in IDENTITIES:
            raise EmbeddedS3Error(f"no identity {identity!r}: the embedded server has {', '.join(IDENTITIES)}")
        path = self.home / "credentials.json"
        stored = json.loads(path.read_text()) if path.exists() else {}
        if missing := [name for name in IDENTITIES if name not in stored]:
            self.home.mkdir(parents=True, exist_ok=True)
            stored.update({name: {"access_key_id": f"LAKE{name.upper()}{secrets.token_hex(6).upper()}",
                                  "secret_access_key": secrets.token_urlsafe(30)} for name in missing})
            _write_private(path, json.dumps(stored, indent=2))
        return Credentials(**stored[identity])

    def transfer_config(self, identity: str = "admin", **overrides: object) -> S3TransferConfig:
        """Return an :class:`S3TransferConfig` that reaches this server as ``identity``."""
        keys = self.credentials(identity)
        settings: dict[str, object] = {
            "endpoint_url": self.endpoint_url,
            "region": LOCAL_REGION,
            "access_key_id": keys.access_key_id,
            "secret_access_key": keys.secret_access_key,
            "addressing_style": "path",
        }
        settings.update(overrides)
        return S3TransferConfig(**settings)  # type: ignore[arg-type]

    def _write_identities(self) -> Path:
        identities = {"identities": [
            {"name": name, "actions": IDENTITIES[name],
             "credentials": [{"accessKey": keys.access_key_id, "secretKey": keys.secret_access_key}]}
            for name, keys in ((name, self.credentials(name)) for name in IDENTITIES)]}
        path = self.home / "identities.json"
        _write_private(path, json.dumps(identities, indent=2))
        return path

    def _command(self, identities: Path) -> list[str]:
        run = self.home / "run"
        return [
            str(weed_binary()), f"-logdir={self.home / 'logs'}", "mini",
            f"-dir={self.home / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-s3.config={identities}",
            "-master.telemetry=false",
            "-s3.allowDeleteBucketNotEmpty=false",
            # every bucket is a collection with a volume of its own, and `weed mini` allows free disk / 1 GiB
            # volumes: 76 buckets on a disk with 76 GiB free, then every write to a new bucket is a 500 (found
            # by the test suite). Volumes are sparse files, so a fixed, larger bound costs nothing until written.
            f"-volume.max={MAX_VOLUMES}",
            "-s3.autoCreateBucket=false",
            "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-filer.localSocket={run / 'filer.sock'}", f"-s3.localSocket={run / 's3.sock'}",
            *(f"-{service}.port={port}" for service, port in self.ports.http().items()),
            *(["-metricsIp=127.0.0.1", f"-metricsPort={self.metrics_port}"] if self.metrics_port else []),
        ]

    # ------------------------------------------------------------------ lifecycle

    def running_pid(self) -> int | None:
        """Return the pid of this home's server if it is alive, else None (and forget a stale pid file)."""
        if self._process is not None and self._process.poll() is None:
            return self._process.pid
        try:
            pid = int(self._pid_file.read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None
        if is_weed(pid):
            return pid
        self._pid_file.unlink(missing_ok=True)
        return None

    def start(self) -> None:
        """Start the server (if this home's is not already running) and wait until S3 answers and the
        volume server has registered (so stored data is readable, also right after a restart).

        Raises:
            PortInUseError: a port is taken, naming which.
            EmbeddedS3Error: the server exited or did not become ready in time, with its log's tail.
        """
        if self.running_pid() is not None:
            logger.info("embedded S3 already running at %s", self.endpoint_url)
            return
        busy = busy_ports(self.ports)
        if busy:
            taken = ", ".join(f"{port} ({name})" for name, port in busy.items())
            raise PortInUseError(f"cannot start the embedded S3 on 127.0.0.1: port(s) {taken} in use; "
                                 "stop what holds them or choose another S3 port (--port / LAKE_S3_PORT)")
        for sub in ("data", "logs", "run"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        identities = self._write_identities()
        env = {**os.environ, "GOMEMLIMIT": self.memory_limit}
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(self._command(identities), stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, env=env, cwd=self.home,
                                             start_new_session=True)
        self._pid_file.write_text(f"{self._process.pid} {self.ports.s3}\n")
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        logger.info("embedded S3 ready at %s (data in %s)", self.endpoint_url, self.home / "data")

    def _admin_client(self, **config: Any) -> Any:
        """A plain boto3 client with the admin's keys; boto3 is imported here, for the commands that need it."""
        import boto3
        from botocore.config import Config

        keys = self.credentials("admin")
        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=LOCAL_REGION,
                            aws_access_key_id=keys.access_key_id, aws_secret_access_key=keys.secret_access_key,
                            config=Config(**config))

    def _wait_ready(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._admin_client(retries={"max_attempts": 0}, connect_timeout=1, read_timeout=2)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise EmbeddedS3Error(f"weed exited with code {self._process.returncode}; "
                                      f"log tail:\n{self.log_tail()}")
            try:
                client.list_buckets()
                if self._volume_server_registered():
                    return
            except (BotoCoreError, ClientError, OSError, ValueError):
                pass
            time.sleep(0.2)
        raise EmbeddedS3Error(f"embedded S3 not ready after {self.ready_timeout:.0f}s; log tail:\n{self.log_tail()}")

    def _volume_server_registered(self) -> bool:
        """Return whether the master knows a volume server: until its first heartbeat, which lists its
        volumes, S3 answers metadata requests but every read of stored data fails with a 500."""
        url = f"http://127.0.0.1:{self.ports.http()['master']}/dir/status"
        with urllib.request.urlopen(url, timeout=2) as response:
            topology = json.load(response).get("Topology", {})
        return any(rack.get("DataNodes") for center in topology.get("DataCenters") or []
                   for rack in center.get("Racks") or [])

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the server cleanly (SIGTERM, then SIGKILL after ``timeout``); return whether one ran. Returns once
        its ports are released too (up to 10 s), so the same ports can be started on again at once."""
        pid = self.running_pid()
        if pid is None:
            return False
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._alive(pid):
            time.sleep(0.1)
        if self._alive(pid):
            logger.warning("weed (pid %d) ignored SIGTERM for %.0fs; killing it", pid, timeout)
            os.killpg(pid, signal.SIGKILL)
            while self._alive(pid):
                time.sleep(0.1)
        deadline = time.monotonic() + 10  # the leader shows as a zombie while its threads still close sockets
        while busy_ports(self.ports) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._process = None
        self._pid_file.unlink(missing_ok=True)
        return True

    def _alive(self, pid: int) -> bool:
        if self._process is not None and self._process.pid == pid:
            return self._process.poll() is None
        return is_weed(pid)

    def status(self) -> ServerStatus:
        """Return whether the server runs, its pid and endpoint, and the bytes stored under ``home/data``."""
        data = self.home / "data"
        size = sum(f.stat().st_size for f in data.rglob("*") if f.is_file()) if data.exists() else 0
        pid = self.running_pid()
        return ServerStatus(running=pid is not None, pid=pid, endpoint_url=self.endpoint_url, home=self.home,
                            data_bytes=size)

    def log_tail(self, lines: int = 20) -> str:
        """Return the last ``lines`` lines of the server's console log."""
        if not self.log_file.exists():
            return "(no log)"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def ensure_buckets(self, *names: str) -> None:
        """Create the buckets that do not exist yet."""
        client = self._admin_client()
        existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
        for name in names:
            if name not in existing:
                client.create_bucket(Bucket=name)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only, replacing it atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
