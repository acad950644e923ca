"""A throwaway PostgreSQL cluster on loopback, from Debian's ``postgresql`` binaries (the Makefile installs them).

``initdb`` refuses to run as root, so under root (as in CI) the cluster belongs to the ``postgres``
user the package creates; its files live in a fresh directory under /tmp, removed on exit.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg2


def postgres_bin() -> Path:
    """The newest Debian PostgreSQL ``bin`` directory (``LAKE_PG_BIN`` overrides it)."""
    if override := os.environ.get("LAKE_PG_BIN"):
        return Path(override)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries in /usr/lib/postgresql: `make test` installs "
                           "Debian's postgresql package (or set LAKE_PG_BIN)")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayPostgres:
    """One cluster on 127.0.0.1 with password (SCRAM) authentication and an empty database ``db_name``.

    Without ``fsync`` (the tests' default) a commit does not wait for the disk; a benchmark of what a
    deployment pays turns it on.
    """

    def __init__(self, db_name: str = "dagster", username: str = "dagster", fsync: bool = False) -> None:
        self.db_name, self.username, self.fsync = db_name, username, fsync
        self.password = secrets.token_urlsafe(16)
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="lake-pg-"))
        self.log = self.root / "postgres.log"
        self._user = "postgres" if os.geteuid() == 0 else None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """The ``DAGSTER_PG_*`` variables deploy/dagster.yaml reads."""
        return {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(self.port),
                "DAGSTER_PG_USERNAME": self.username, "DAGSTER_PG_PASSWORD": self.password,
                "DAGSTER_PG_DB": self.db_name}

    def connect(self, db_name: str | None = None) -> psycopg2.extensions.connection:
        """A new connection to ``db_name`` (default: the test database)."""
        return psycopg2.connect(host="127.0.0.1", port=self.port, user=self.username, password=self.password,
                                dbname=db_name or self.db_name, connect_timeout=5)

    def __enter__(self) -> ThrowawayPostgres:
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        data, password_file = self.root / "data", self.root / "password"
        password_file.write_text(self.password)
        if self._user:
            owner = pwd.getpwnam(self._user)
            self.root.chmod(0o755)
            for path in (self.root, password_file):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        binaries = postgres_bin()
        subprocess.run([str(binaries / "initdb"), "-D", str(data), "-U", self.username, f"--pwfile={password_file}",
                        "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"], check=True, capture_output=True,
                       user=self._user, cwd=self.root)
        with self.log.open("wb") as out:
            self._process = subprocess.Popen(
                [str(binaries / "postgres"), "-D", str(data), "-c", "listen_addresses=127.0.0.1", "-p",
                 str(self.port), "-c", f"unix_socket_directories={data}", "-c",
                 f"fsync={'on' if self.fsync else 'off'}", "-c", "max_connections=200"],
                stdout=out, stderr=subprocess.STDOUT, user=self._user, cwd=self.root)
        self._wait_ready()
        self.create_database(self.db_name)

    def create_database(self, name: str) -> None:
        """Create an empty database ``name``, owned by :attr:`username`."""
        admin = self.connect("postgres")
        admin.autocommit = True  # CREATE DATABASE runs outside a transaction
        try:
            with admin.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {name}")
        finally:
            admin.close()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self._process.returncode}:\n{self.log.read_text()}")
            try:
                self.connect("postgres").close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._process is not None:
            self._process.terminate()  # SIGTERM: a smart shutdown, after the clients disconnect
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
