"""The missing-partition sensor's sweep: each tick re-reads one window of the history besides what is new.

A tick lists the vendor files after its cursor (what is new) and the next window of the history, after the
sweep's position: :func:`sweep_size` files, so that the whole history is re-read within a bounded time whatever
its length, at a cost per tick that does not grow with it. Before, a full pass re-read twenty years every five
minutes, and the tick that made it cost 1.1-1.6 CPU s (``bench/history.py``). A window finds what a full pass
found: deleted curated partitions, vendor files corrected behind the cursor, curated objects altered outside the
lake's runs, closed days Dagster has not recorded. Pure functions; the sensor lists S3 and asks Dagster.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence

from lake_assets.lake.planning import Plan, PlanCursor
from lake_assets.s3 import ObjectInfo

#: The fewest vendor files a window holds: a tick's cap (two range runs of 250), so that a sensor's first sweep over
#: a lake still empty requests as much a tick as a full listing did; a history this short is read whole each tick.
MIN_SWEEP = 500


def sweep_size(partitions: int, tick_seconds: float, within_seconds: float, least: int = MIN_SWEEP) -> int:
    """The vendor files one tick's window holds: enough that ``partitions`` files are swept within
    ``within_seconds`` at a tick every ``tick_seconds``, and at least ``least``."""
    ticks = max(1, int(within_seconds // tick_seconds))
    return max(least, math.ceil(partitions / ticks))


def sweep_window(listing: Iterable[ObjectInfo], size: int, through: str | None) -> tuple[list[ObjectInfo], bool]:
    """The sweep's next window from ``listing`` (the vendor's files after the sweep's position, in key order): at
    most ``size`` files and none after ``through`` (the cursor: later files are the tick's new ones). Also whether
    the window reaches the end of the history, so that the next tick starts a new sweep."""
    window: list[ObjectInfo] = []
    for info in listing:
        if through is not None and info.key > through:
            return window, True
        window.append(info)
        if len(window) == size:
            return window, False
    return window, True


def sweep_since(cursor: PlanCursor) -> float:
    """The POSIX time after which a curated object written counts as possibly altered outside the lake's runs (and
    is looked up in Dagster): when the sweep before this tick's began. An object altered after its window was read
    is so still looked at by the next sweep; every object is, on a sensor's first sweep."""
    return cursor.full_at if cursor.sweep is None else cursor.since


def advance(cursor: PlanCursor, plan: Plan, window: Sequence[ObjectInfo], wraps: bool, now: float) -> PlanCursor:
    """The cursor after a tick that planned ``plan`` over ``window`` (and the new files after ``cursor.after``).

    A tick capped inside its window resumes the sweep after the last file it planned over (its requests are made).
    Otherwise the sweep moves on (or starts again after the last window), and ``after`` follows the newest file
    planned over; on a sensor's first sweep it stays unset until the sweep has read the whole history, so that each
    tick of it lists one window, not everything after it.
    """
    end = window[-1].key if window else None
    if plan.capped and end is not None and (plan.last_seen is None or plan.last_seen < end):
        if plan.last_seen is None:
            return cursor
        return dataclasses.replace(cursor, sweep=plan.last_seen, since=sweep_since(cursor),
                                   full_at=now if cursor.sweep is None else cursor.full_at)
    after = plan.cursor.after if cursor.after is not None or wraps else None
    return PlanCursor(after=after, full_at=now if cursor.sweep is None else cursor.full_at,
                      sweep=None if wraps else end, since=sweep_since(cursor))
