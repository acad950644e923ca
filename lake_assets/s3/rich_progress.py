"""Rich progress bars for batch transfers: bytes, speed, percentage, ETA and files done.

The one module of the transfer layer that imports rich: a :class:`~lake_assets.s3.progress.ProgressListener`
the handler plugs in by default when ``show_progress`` is set.
"""

from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class RichProgress:
    """One progress bar over a batch, safe to advance from many worker threads.

    The bar counts bytes. Uploads know every size up front; downloads learn each object's size from
    its first response and grow the total as they go, so their percentage settles once every object
    has started. Output goes to stderr; when stderr is not a terminal rich draws no animation and
    prints the final state once, so logs and pipes stay readable.
    """

    def __init__(self, description: str, files: int, total_bytes: int | None) -> None:
        self._files = files
        self._done = 0
        self._lock = threading.Lock()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[files]}"),
            console=Console(stderr=True),
        )
        self._task = self._progress.add_task(description, total=total_bytes, files=self._files_text())

    def _files_text(self) -> str:
        return f"{self._done}/{self._files} files"

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.stop()

    def add_bytes(self, amount: int) -> None:
        """Record ``amount`` more bytes moved."""
        self._progress.advance(self._task, amount)

    def add_total(self, amount: int) -> None:
        """Grow the expected total by ``amount`` bytes (a download learnt an object's size)."""
        with self._lock:
            task = self._progress.tasks[0]
            self._progress.update(self._task, total=(task.total or 0) + amount)

    def file_done(self) -> None:
        """Record one more object finished, whatever its outcome."""
        with self._lock:
            self._done += 1
            self._progress.update(self._task, files=self._files_text())
