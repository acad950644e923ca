"""The code location's console logger: Dagster's colored console logger, with one stack trace per failure.

Dagster's own prints a failed step's stack trace twice: under ``STEP_FAILURE``, then again under the
``RUN_FAILURE`` that follows it. This one keeps the run failure's first line (which steps failed) and drops the
repeated trace; a run that fails before any step (its config, its resources) keeps its whole message. Dagster
starts a job's loggers only for a run whose config names them (``loggers: {console: ...}``: a run launched with
that config from the UI, or the test harness's in-process runs); other runs log through Dagster's default console
logger.
"""

from __future__ import annotations

import logging

import dagster as dg


class OneTracePerFailure(logging.Filter):
    """Shorten to its first line a run failure that names the steps that failed: each of those steps' failure was
    shown whole, with its trace, just before."""

    def filter(self, record: logging.LogRecord) -> bool:
        event = (getattr(record, "dagster_meta", None) or {}).get("dagster_event")
        if event is not None and event.event_type_value == dg.DagsterEventType.RUN_FAILURE.value:
            first = record.getMessage().split("\n", 1)[0]
            if "Steps failed:" in first:
                record.msg, record.args = first, ()
        return True


@dg.logger(config_schema=dg.colored_console_logger.config_schema,
           description="Dagster's colored console logger, printing each failure's stack trace once.")
def console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    """Dagster's colored console logger, with :class:`OneTracePerFailure` on its handlers."""
    logger = dg.colored_console_logger.logger_fn(init_context)
    for handler in logger.handlers:
        handler.addFilter(OneTracePerFailure())
    return logger
