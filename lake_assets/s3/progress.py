"""Progress of a batch as callbacks: the transfer layer calls them, whoever watches decides how to show them.

A :data:`ProgressFactory` is called once per batch call with the batch's description, its object
count and its byte total (``None`` while unknown: downloads learn sizes as they go), and returns a
context manager yielding a :class:`ProgressListener`. The handler's default draws rich bars when
``show_progress`` is set (:mod:`lake_assets.s3.rich_progress`, imported only then) and nothing otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Protocol


class ProgressListener(Protocol):
    """What a batch reports while it runs; every method may be called from many worker threads at once."""

    def add_bytes(self, amount: int) -> None:
        """``amount`` more bytes moved."""

    def add_total(self, amount: int) -> None:
        """The expected total grew by ``amount`` bytes (a download learnt an object's size)."""

    def file_done(self) -> None:
        """One more object finished, whatever its outcome."""


#: ``factory(description, objects, total_bytes)`` -> a context manager around one batch's listener.
ProgressFactory = Callable[[str, int, "int | None"], AbstractContextManager[ProgressListener]]


class NoProgress:
    """A listener that ignores everything: batches with ``show_progress=False``."""

    def __init__(self, description: str = "", files: int = 0, total_bytes: int | None = None) -> None:
        self.description = description

    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def add_bytes(self, amount: int) -> None:
        """Ignored."""

    def add_total(self, amount: int) -> None:
        """Ignored."""

    def file_done(self) -> None:
        """Ignored."""


def default_progress(show_progress: bool) -> ProgressFactory:
    """Rich progress bars on stderr when ``show_progress`` is set, else nothing; rich is imported only then."""
    if not show_progress:
        return NoProgress
    from lake_assets.s3.rich_progress import RichProgress

    return RichProgress
