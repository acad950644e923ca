"""The ports one ``weed mini`` listens on, all derived from its S3 port, and whether they are free."""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass

DEFAULT_S3_PORT = 18333
GRPC_OFFSET = 10000
_SERVICES = ("s3", "master", "volume", "filer", "admin")


class EmbeddedS3Error(RuntimeError):
    """The embedded server could not be started, reached or stopped."""


class PortInUseError(EmbeddedS3Error):
    """A port the server needs is taken by another process."""


@dataclass(frozen=True)
class Ports:
    """Every port one ``weed mini`` listens on, derived from its S3 port."""

    s3: int = DEFAULT_S3_PORT

    def __post_init__(self) -> None:
        if not 1024 <= self.s3 <= 65535 - GRPC_OFFSET - len(_SERVICES):
            raise ValueError(f"S3 port must be between 1024 and {65535 - GRPC_OFFSET - len(_SERVICES)}, got {self.s3}")

    def http(self) -> dict[str, int]:
        """HTTP port of each service: S3 first, then master, volume, filer, admin."""
        return {name: self.s3 + index for index, name in enumerate(_SERVICES)}

    def all(self) -> dict[str, int]:
        """Every port, HTTP and gRPC, by a name that says which."""
        ports = self.http()
        return {**ports, **{f"{name} gRPC": port + GRPC_OFFSET for name, port in ports.items()}}


def free_ports(attempts: int = 50) -> Ports:
    """Return a set of ports that are all free now (for tests that run beside another instance)."""
    for _ in range(attempts):
        candidate = Ports(random.randrange(20000, 45000))
        if not busy_ports(candidate):
            return candidate
    raise EmbeddedS3Error(f"no free set of ports found in {attempts} attempts")


def busy_ports(ports: Ports) -> dict[str, int]:
    """Return the ports of ``ports`` that cannot be bound on 127.0.0.1 right now."""
    busy: dict[str, int] = {}
    for name, port in ports.all().items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As Go's listeners do, so a port left in TIME_WAIT by our own last stop counts as free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                busy[name] = port
    return busy
