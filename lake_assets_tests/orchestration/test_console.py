"""The code location's console logger prints each failure's stack trace once (issue 30: "one stack trace per
failure"), where Dagster's own prints it under the step failure and again under the run failure. Dagster starts a
job's loggers only when the run config names them, as `lake run`'s does."""

from __future__ import annotations

import dagster as dg
import pytest

from lake_assets.definitions import defs as code_location
from lake_assets.orchestration.console import console_logger
from lake_assets_tests.in_process import QUIET


def _failing_job_output(loggers: dict[str, dg.LoggerDefinition], capfd: pytest.CaptureFixture[str]) -> str:
    @dg.asset
    def broken() -> None:
        raise ValueError("not a gzip file")

    job = dg.define_asset_job("curate", selection=[broken])
    result = dg.Definitions(assets=[broken], jobs=[job], loggers=loggers).resolve_job_def("curate").execute_in_process(
        raise_on_error=False, run_config=QUIET)
    assert not result.success
    return capfd.readouterr().err


def test_a_failed_step_prints_its_stack_trace_once_and_the_run_failure_one_line(
        capfd: pytest.CaptureFixture[str]) -> None:
    ours = _failing_job_output({"console": console_logger}, capfd)
    assert ours.count('raise ValueError("not a gzip file")') == 1
    assert "STEP_FAILURE" in ours and "RUN_FAILURE - Execution of run for \"curate\" failed. Steps failed: " in ours
    dagsters = _failing_job_output({"console": dg.colored_console_logger}, capfd)
    assert dagsters.count('raise ValueError("not a gzip file")') == 2  # what this logger is for


def test_the_code_location_logs_through_it() -> None:
    assert code_location().loggers == {"console": console_logger}
