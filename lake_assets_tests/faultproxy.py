"""A fault-injecting HTTP proxy for tests: sits on loopback between a client and an S3 server.

For a configurable fraction of requests it answers ``503 SlowDown`` or ``500 InternalError`` itself
(the request never reaches the server), resets the connection part-way through the server's response
(after the server has acted on the request), or adds latency. It is bounded: it serves at most
``max_requests`` requests and stops itself after ``lifetime`` seconds. Host headers are passed through
unchanged, so SigV4 signatures made for the proxy's address still verify at the server.

With ``stall_gets()`` it reads every later GET and answers nothing, holding the connection open (a
stalled server) until the proxy stops. With ``trickle_gets(chunk, pause)`` it passes every later GET's
answer on ``chunk`` bytes at a time, ``pause`` seconds apart (a slow link that still moves). With
``break_gets(suffix)`` it answers ``500 InternalError`` to every later GET of a path ending in ``suffix`` (one
object the server cannot serve, for good), counted under ``"broken"``.

It also serves as a forward proxy (``HTTP_PROXY``: the server answers absolute request URIs), counts
the requests signed by each access key, and answers ``400 ExpiredToken`` to keys marked expired.
"""

from __future__ import annotations

import random
import re
import socket
import socketserver
import struct
import threading
import time
from collections import Counter
from types import TracebackType

FAULTS = ("slowdown", "server_error", "reset", "latency")


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        client = self.request
        client.settimeout(30)
        upstream: socket.socket | None = None
        buffer = b""
        try:
            while True:
                head, buffer = _read_head(client, buffer)
                if head is None:
                    return
                headers = _headers(head)
                if headers.get("expect", "").lower() == "100-continue":
                    client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")  # botocore waits for it before the body
                body, buffer = _read_body(client, buffer, headers)
                if self.server.signed_by_expired_key(headers.get("authorization", "")):
                    client.sendall(_error_response("expired"))
                    continue
                if self.server.stalling.is_set() and head.startswith(b"GET "):
                    self.server.released.wait(60)  # never answered: the client must give up by itself
                    return
                if self.server.is_broken(head):
                    client.sendall(_error_response("server_error"))
                    continue
                fault = self.server.choose(pinned_get=head.startswith(b"GET ") and "if-match" in headers)
                if fault in ("slowdown", "server_error"):
                    client.sendall(_error_response(fault))
                    continue
                if fault == "latency":
                    time.sleep(self.server.rng_uniform(0.01, 0.1))
                if upstream is None:
                    upstream = socket.create_connection(("127.0.0.1", self.server.upstream_port), timeout=60)
                upstream.sendall(head + body)
                response = _read_response(upstream, head.split(b" ", 1)[0] == b"HEAD")
                if fault == "reset":
                    client.sendall(response[: max(1, len(response) // 2)])
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return  # closing with SO_LINGER 0 sends a RST
                if self.server.trickle and head.startswith(b"GET "):
                    chunk, pause = self.server.trickle
                    for start in range(0, len(response), chunk):
                        client.sendall(response[start:start + chunk])
                        time.sleep(pause)
                    continue
                client.sendall(response)
        except (OSError, ValueError):
            return
        finally:
            if upstream is not None:
                upstream.close()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream_port: int, rate: float, seed: int, max_requests: int, pinned_fault_every: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream_port = upstream_port
        self.rate = rate
        self.pinned_fault_every = pinned_fault_every
        self.max_requests = max_requests
        self.counts: Counter[str] = Counter()
        self.keys: Counter[str] = Counter()
        self.expired: set[str] = set()
        self.stalling, self.released = threading.Event(), threading.Event()
        self.trickle: tuple[int, float] | None = None
        self.broken: bytes | None = None
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def signed_by_expired_key(self, authorization: str) -> bool:
        """Count the request under the access key that signed it; True when that key is marked expired."""
        match = re.search(r"Credential=([^/]+)/", authorization)
        key = match.group(1) if match else "unsigned"
        with self._lock:
            if key in self.expired:
                self.keys[f"{key} refused"] += 1
                return True
            self.keys[key] += 1
            return False

    def is_broken(self, head: bytes) -> bool:
        """Count, and say, whether ``head`` is a GET of the broken path."""
        path = head.split(b" ", 2)[1].split(b"?", 1)[0] if head.startswith(b"GET ") else b""
        if self.broken is None or not path.endswith(self.broken):
            return False
        with self._lock:
            self.counts["broken"] += 1
        return True

    def choose(self, pinned_get: bool) -> str | None:
        """Count a request and pick its fault (or None); refuse service past ``max_requests``.

        Faults on a GET with ``If-Match`` (a part of a large download) are also counted as
        ``"<fault> pinned"``: the CRT engine retries those parts itself, out of the handler's sight.
        With ``pinned_fault_every`` = k, every k-th such GET gets a 500 besides.
        """
        with self._lock:
            self.counts["requests"] += 1
            if self.counts["requests"] > self.max_requests:
                raise ValueError("request budget spent")
            if pinned_get:
                self.counts["pinned"] += 1
                if self.pinned_fault_every and self.counts["pinned"] % self.pinned_fault_every == 0:
                    self.counts["server_error pinned"] += 1
                    return "server_error"
            if self._rng.random() >= self.rate:
                return None
            fault = self._rng.choice(FAULTS)
            self.counts[fault] += 1
            if pinned_get:
                self.counts[f"{fault} pinned"] += 1
            return fault

    def rng_uniform(self, low: float, high: float) -> float:
        with self._lock:
            return self._rng.uniform(low, high)


class FaultProxy:
    """Run a :class:`_Server` in a thread as a context manager; ``endpoint_url`` is where clients connect."""

    def __init__(self, upstream_port: int, rate: float = 0.1, seed: int = 0, max_requests: int = 50_000,
                 lifetime: float = 600.0, pinned_fault_every: int = 0) -> None:
        self._server = _Server(upstream_port, rate, seed, max_requests, pinned_fault_every)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._timer = threading.Timer(lifetime, self._server.shutdown)
        self._timer.daemon = True

    @property
    def endpoint_url(self) -> str:
        """The proxy's address, on loopback."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def counts(self) -> Counter[str]:
        """Requests seen and faults injected, by kind."""
        return self._server.counts

    @property
    def keys(self) -> Counter[str]:
        """Requests by the access key that signed them; ``"<key> refused"`` for an expired one's."""
        return self._server.keys

    def expire(self, access_key_id: str) -> None:
        """Answer every later request signed by ``access_key_id`` with ``400 ExpiredToken``."""
        with self._server._lock:
            self._server.expired.add(access_key_id)

    def stall_gets(self) -> None:
        """Answer no later GET: read it, then hold the connection open until the proxy stops."""
        self._server.stalling.set()

    def trickle_gets(self, chunk: int, pause: float) -> None:
        """Pass every later GET's answer on ``chunk`` bytes at a time, ``pause`` seconds apart."""
        self._server.trickle = (chunk, pause)

    def break_gets(self, suffix: str) -> None:
        """Answer ``500 InternalError`` to every later GET of a path ending in ``suffix``."""
        self._server.broken = suffix.encode()

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._timer.cancel()
        self._server.released.set()
        self._server.shutdown()
        self._server.server_close()


_ERRORS = {"slowdown": (b"503 Slow Down", b"SlowDown", b"injected"),
           "server_error": (b"500 Internal Server Error", b"InternalError", b"injected"),
           "expired": (b"400 Bad Request", b"ExpiredToken", b"The provided token has expired.")}


def _error_response(fault: str) -> bytes:
    status, code, message = _ERRORS[fault]
    body = b"<?xml version=\"1.0\"?><Error><Code>" + code + b"</Code><Message>" + message + b"</Message></Error>"
    return (b"HTTP/1.1 " + status + b"\r\nContent-Type: application/xml\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


def _read_head(sock: socket.socket, buffer: bytes) -> tuple[bytes | None, bytes]:
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            return None, b""
        buffer += data
    end = buffer.index(b"\r\n\r\n") + 4
    return buffer[:end], buffer[end:]


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines if ":" in line)}


def _read_exact(sock: socket.socket, buffer: bytes, length: int) -> tuple[bytes, bytes]:
    while len(buffer) < length:
        data = sock.recv(max(65536, length - len(buffer)))
        if not data:
            raise ValueError("connection closed mid-body")
        buffer += data
    return buffer[:length], buffer[length:]


def _read_body(sock: socket.socket, buffer: bytes, headers: dict[str, str]) -> tuple[bytes, bytes]:
    if "chunked" in headers.get("transfer-encoding", ""):
        return _read_chunked(sock, buffer)
    return _read_exact(sock, buffer, int(headers.get("content-length", "0")))


def _read_chunked(sock: socket.socket, buffer: bytes) -> tuple[bytes, bytes]:
    body = b""
    while True:
        while b"\r\n" not in buffer:
            data = sock.recv(65536)
            if not data:
                raise ValueError("connection closed mid-chunk")
            buffer += data
        line, buffer = buffer.split(b"\r\n", 1)
        size = int(line.split(b";")[0], 16)
        chunk, buffer = _read_exact(sock, buffer, size + 2)
        body += line + b"\r\n" + chunk
        if size == 0:
            return body, buffer


def _read_response(sock: socket.socket, is_head: bool) -> bytes:
    """Read one final response (interim 1xx responses are dropped: the client got its own 100 Continue)."""
    head, buffer = _read_head(sock, b"")
    while head is not None and head.split(b" ", 2)[1].startswith(b"1"):
        head, buffer = _read_head(sock, buffer)
    if head is None:
        raise ValueError("upstream closed")
    status = int(head.split(b" ", 2)[1])
    if is_head or status in (204, 304):
        return head
    body, _ = _read_body(sock, buffer, _headers(head))
    return head + body
