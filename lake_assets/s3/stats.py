"""What a handler's calls cost: requests by type, retries, bytes and outcomes, thread-safe."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class TransferStatistics:
    """Counters fed by botocore events and the CRT engine (requests), and by the handler (bytes, outcomes).

    A *call* is one botocore operation; a *request* is one HTTP send. Every send beyond the first of
    a call is a retry by botocore; retries of a body that broke while streaming are counted by the
    handler, which re-issues those itself.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._calls: Counter[str] = Counter()
        self._counters: Counter[str] = Counter()

    def on_before_call(self, event_name: str, **_: Any) -> None:
        """botocore ``before-call.s3.*`` hook: one logical operation starts."""
        with self._lock:
            self._calls[event_name.rsplit(".", 1)[-1]] += 1

    def on_before_send(self, event_name: str, **_: Any) -> None:
        """botocore ``before-send.s3.*`` hook: one HTTP request leaves (first try or retry)."""
        with self._lock:
            self._requests[event_name.rsplit(".", 1)[-1]] += 1

    def on_request(self, operation: str, retry: bool) -> None:
        """One HTTP request sent outside botocore (the CRT engine): a first attempt or a retry."""
        with self._lock:
            self._requests[operation] += 1
            if not retry:
                self._calls[operation] += 1

    def add(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to the handler-side counter ``name`` (bytes, outcomes, stream retries)."""
        with self._lock:
            self._counters[name] += amount

    def reset(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self._requests.clear()
            self._calls.clear()
            self._counters.clear()

    def snapshot(self) -> dict[str, Any]:
        """Return the counters as plain data.

        Keys: ``requests`` (HTTP requests by operation), ``total_requests``, ``retries`` (botocore
        retries plus re-issued streams), ``bytes_uploaded``, ``bytes_downloaded``, ``uploaded``,
        ``downloaded``, ``copied``, ``skipped``, ``failed`` and ``success_rate`` (successes over
        attempted objects, 1.0 when nothing was attempted).
        """
        with self._lock:
            requests = dict(self._requests)
            botocore_retries = sum(self._requests.values()) - sum(self._calls.values())
            counters = dict(self._counters)
        successes = sum(counters.get(k, 0) for k in ("uploaded", "downloaded", "copied"))
        attempted = successes + counters.get("failed", 0)
        return {
            "requests": requests,
            "total_requests": sum(requests.values()),
            "retries": max(botocore_retries, 0) + counters.get("stream_retries", 0),
            "bytes_uploaded": counters.get("bytes_uploaded", 0),
            "bytes_downloaded": counters.get("bytes_downloaded", 0),
            "uploaded": counters.get("uploaded", 0),
            "downloaded": counters.get("downloaded", 0),
            "copied": counters.get("copied", 0),
            "skipped": counters.get("skipped", 0),
            "failed": counters.get("failed", 0),
            "success_rate": successes / attempted if attempted else 1.0,
        }
