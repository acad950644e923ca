"""What a day's step can find other than a file to curate: a day the calendar closes, or a vendor correction
waiting in quarantine while the lake serves the last good file. Both are recorded in Dagster as facts of the
day (materialized, with what the checks say of it), not as failures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lake_assets.lake.calendars import closure
from lake_assets.lake.checks import CheckOutcome, concerns_for
from lake_assets.lake.datasets import DatasetSpec

#: The outcome that names a quarantined correction, in the warning concern of its day.
QUARANTINE_CHECK = "quarantine"
#: The outcome that says the served partition of a day with a quarantined correction passed when curated.
SERVED_CHECK = "served_partition"


@dataclass(frozen=True)
class ClosedDay:
    """A weekday the dataset's calendar closes (a holiday) for which the vendor published nothing: a recorded
    fact with no data, not a missing day."""

    calendar: str
    name: str

    @property
    def action(self) -> str:
        """What recording the day says."""
        return f"closed ({self.name}): the {self.calendar} calendar closes this day; nothing published, nothing stored"


def closed_day(spec: DatasetSpec, day: date) -> ClosedDay | None:
    """``day`` as a closed day of the spec's calendar, or None when the calendar publishes on it."""
    name = closure(spec.calendar, day)
    return ClosedDay(spec.calendar, name) if name else None


@dataclass(frozen=True)
class Quarantined:
    """A vendor correction of a curated day that did not curate: it waits in quarantine with ``reason`` beside it,
    and the lake still serves the day's last good partition, curated from vendor ETag ``served_etag``."""

    key: str
    reason: str
    correction_etag: str
    served_etag: str

    @property
    def action(self) -> str:
        """What recording the day says."""
        return (f"kept the last good file (source ETag {self.served_etag}); the vendor's correction (ETag "
                f"{self.correction_etag}) waits in quarantine")

    def outcomes(self, spec: DatasetSpec) -> list[CheckOutcome]:
        """The day's check outcomes: the served partition passed its blocking checks when it was curated, and
        the warning concern fails, naming the quarantine and its reason (the correction's failed checks)."""
        return [CheckOutcome(QUARANTINE_CHECK, False, f"the vendor's correction (ETag {self.correction_etag}) "
                             f"waits in quarantine, not curated: {self.reason}", concern.severity, concern.name)
                if concern.severity == "warn" else
                CheckOutcome(SERVED_CHECK, True, "the partition the lake serves passed when it was curated",
                             concern.severity, concern.name)
                for concern in concerns_for(spec)]
