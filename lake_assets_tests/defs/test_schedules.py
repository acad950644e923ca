"""The daily schedule requests the newest partition once, skipping days the calendar does not publish."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from lake_assets.definitions import defs
from lake_assets.lake.datasets import DAY_AGGS, NODAL_PRICES, DatasetSpec

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(("spec", "when", "expected"), [
    (DAY_AGGS, datetime(2024, 1, 9, 6, tzinfo=NEW_YORK), "2024-01-08"),   # Tuesday morning: Monday
    (DAY_AGGS, datetime(2024, 1, 8, 6, tzinfo=NEW_YORK), "2024-01-05"),   # Monday morning: Friday, not Sunday
    (DAY_AGGS, datetime(2024, 1, 16, 6, tzinfo=NEW_YORK), "2024-01-12"),  # after Martin Luther King Jr. Day
    (NODAL_PRICES, datetime(2024, 1, 8, 6, tzinfo=NEW_YORK), "2024-01-07"),  # prices publish every day
])
def test_schedule_requests_the_newest_partition(spec: DatasetSpec, when: datetime, expected: str) -> None:
    schedule = defs.resolve_schedule_def(f"{spec.name}_daily")
    with dg.build_schedule_context(scheduled_execution_time=when, repository_def=defs.get_repository_def()) as context:
        request = schedule.evaluate_tick(context).run_requests[0]
    assert request.partition_key == expected and request.run_key == f"{spec.name}:{expected}"
    assert schedule.cron_schedule == "0 6 * * *" and schedule.execution_timezone == "America/New_York"
