"""Partition keys, Hive ``year=YYYY/month=MM/day=DD`` lake keys and vendor key templates, both ways.

Pure functions only. Every key is zero-padded, so lexicographic key order is date order: that is
what lets a listing resume after a cursor (``StartAfter``) instead of re-reading history. A key that
is malformed or outside the layout raises :class:`LayoutError`; it never yields a wrong date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from lake_assets.s3.hive import hive_date_path

#: Format of a daily partition key.
PARTITION_FORMAT = "%Y-%m-%d"

_PARTITION_KEY = re.compile(r"\d{4}-\d{2}-\d{2}")
_PLACEHOLDERS = {
    "yyyy": (r"(?P<yyyy>\d{4})", "{day.year:04d}"),
    "mm": (r"(?P<mm>\d{2})", "{day.month:02d}"),
    "dd": (r"(?P<dd>\d{2})", "{day.day:02d}"),
    "date": (r"(?P<date>\d{4}-\d{2}-\d{2})", "{day.year:04d}-{day.month:02d}-{day.day:02d}"),
    "yyyymmdd": (r"(?P<yyyymmdd>\d{8})", "{day.year:04d}{day.month:02d}{day.day:02d}"),
}


class LayoutError(ValueError):
    """A key or partition key that is malformed or does not belong to the layout it was read with."""


def partition_key(day: date) -> str:
    """Return the daily partition key (``YYYY-MM-DD``) of ``day``."""
    return day.strftime(PARTITION_FORMAT)


def partition_date(key: str) -> date:
    """Return the date of a daily partition key.

    Raises:
        LayoutError: ``key`` is not a zero-padded ``YYYY-MM-DD`` real date.
    """
    if not _PARTITION_KEY.fullmatch(key):
        raise LayoutError(f"partition key {key!r} is not of the form YYYY-MM-DD")
    try:
        return datetime.strptime(key, PARTITION_FORMAT).date()
    except ValueError as exc:
        raise LayoutError(f"partition key {key!r} is not a real date") from exc


@dataclass(frozen=True)
class HiveLayout:
    """Keys ``<prefix>/year=YYYY/month=MM/day=DD/<filename>`` of one dataset in one lake zone."""

    prefix: str
    filename: str

    def __post_init__(self) -> None:
        if not self.prefix or self.prefix.startswith("/") or self.prefix.endswith("/"):
            raise ValueError(f"prefix {self.prefix!r} must be non-empty, without leading or trailing '/'")
        if not self.filename or "/" in self.filename:
            raise ValueError(f"filename {self.filename!r} must be one path segment")

    def key(self, day: date) -> str:
        """Return the object key of ``day``'s partition."""
        return f"{self.prefix}/{hive_date_path(day)}/{self.filename}"

    def key_for_partition(self, key: str) -> str:
        """Return the object key of a partition given by its key (``YYYY-MM-DD``)."""
        return self.key(partition_date(key))

    def month_prefix(self, year: int, month: int) -> str:
        """Return the prefix under which one month's partitions lie (ends with ``/``)."""
        return f"{self.prefix}/year={year:04d}/month={month:02d}/"

    @property
    def listing_prefix(self) -> str:
        """Return the prefix under which every partition of the layout lies (ends with ``/``)."""
        return f"{self.prefix}/"

    def date_of(self, key: str) -> date:
        """Return the date of an object key of this layout.

        Raises:
            LayoutError: the key is outside the layout or its date is malformed or unreal.
        """
        if not key.startswith(self.listing_prefix):
            raise LayoutError(f"key {key!r} is not under {self.listing_prefix!r}")
        rest = key[len(self.listing_prefix):]
        match = re.fullmatch(r"year=(\d{4})/month=(\d{2})/day=(\d{2})/" + re.escape(self.filename), rest)
        if match is None:
            raise LayoutError(f"key {key!r} is not of the form "
                              f"{self.listing_prefix}year=YYYY/month=MM/day=DD/{self.filename}")
        try:
            return date(*(int(group) for group in match.groups()))
        except ValueError as exc:
            raise LayoutError(f"key {key!r} does not name a real date") from exc


@dataclass(frozen=True)
class KeyTemplate:
    """A vendor's key naming scheme, e.g. ``us_stocks_sip/day_aggs_v1/{yyyy}/{mm}/{date}.csv.gz``.

    Placeholders: ``{yyyy}``, ``{mm}``, ``{dd}``, ``{date}`` (``YYYY-MM-DD``) and ``{yyyymmdd}``.
    The template must be date-ordered (year before month before day) for key order to be date
    order; :attr:`static_prefix` is what a listing of the vendor's files starts from.
    """

    template: str
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _format: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = re.findall(r"\{(\w+)\}", self.template)
        unknown = set(names) - set(_PLACEHOLDERS)
        if unknown:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)} in {self.template!r}")
        if not ({"date", "yyyymmdd"} & set(names) or {"yyyy", "mm", "dd"} <= set(names)):
            raise ValueError(f"template {self.template!r} does not name a whole date")
        pieces = re.split(r"(\{\w+\})", self.template)
        regex, seen = "", set()
        for piece in pieces:
            name = piece[1:-1] if piece.startswith("{") else None
            if name is None:
                regex += re.escape(piece)
            elif name in seen:  # a repeat is checked by the round trip in date_of, so it need not be named
                regex += re.sub(r"\(\?P<\w+>", "(?:", _PLACEHOLDERS[name][0])
            else:
                regex += _PLACEHOLDERS[name][0]
                seen.add(name)
        object.__setattr__(self, "_regex", re.compile(regex))
        object.__setattr__(self, "_format", "".join(
            _PLACEHOLDERS[p[1:-1]][1] if p.startswith("{") else p.replace("{", "{{").replace("}", "}}")
            for p in pieces))

    @property
    def static_prefix(self) -> str:
        """The text before the first placeholder: the listing prefix of the vendor's files."""
        return self.template.split("{", 1)[0]

    def key(self, day: date) -> str:
        """Return the vendor's key for ``day``."""
        return self._format.format(day=day)

    def date_of(self, key: str) -> date:
        """Return the date a vendor key names.

        Raises:
            LayoutError: the key does not follow the template, or its parts disagree or are unreal.
        """
        match = self._regex.fullmatch(key)
        if match is None:
            raise LayoutError(f"key {key!r} does not follow the template {self.template!r}")
        parts = match.groupdict()
        try:
            if parts.get("date"):
                day = datetime.strptime(parts["date"], PARTITION_FORMAT).date()
            elif parts.get("yyyymmdd"):
                day = datetime.strptime(parts["yyyymmdd"], "%Y%m%d").date()
            else:
                day = date(int(parts["yyyy"]), int(parts["mm"]), int(parts["dd"]))
        except ValueError as exc:
            raise LayoutError(f"key {key!r} does not name a real date") from exc
        if self.key(day) != key:
            raise LayoutError(f"key {key!r} names inconsistent dates (expected {self.key(day)!r})")
        return day
