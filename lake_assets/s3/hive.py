"""Hive date segments in object keys (``year=YYYY/month=MM/day=DD``), both ways.

The seed's transfer layer owns this helper; the lake's layout (:mod:`lake_assets.lake.layout`) builds on it.
"""

from __future__ import annotations

import re
from datetime import date, datetime

_HIVE_DATE = re.compile(r"(?:^|/)year=(\d{4})/month=(\d{2})/day=(\d{2})(?:/|$)")


def extract_date_from_hive_path(path: str) -> datetime | None:
    """Return the date encoded as ``year=YYYY/month=MM/day=DD`` anywhere in ``path``.

    Returns ``None`` when the path holds no such pattern or when the digits do not form a real
    calendar date (``month=13``, ``day=31`` in April).
    """
    match = _HIVE_DATE.search(path)
    if match is None:
        return None
    year, month, day = (int(group) for group in match.groups())
    try:
        return datetime(year, month, day)
    except ValueError:
        return None


def hive_date_path(day: date) -> str:
    """Return the zero-padded Hive path segment ``year=YYYY/month=MM/day=DD`` for ``day``."""
    return f"year={day.year:04d}/month={day.month:02d}/day={day.day:02d}"
