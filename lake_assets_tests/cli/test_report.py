"""What the ``lake`` command prints reads whole in a log or a pipe, not only on a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from lake_assets.cli.report import print_coverage
from lake_assets.lake.coverage import Coverage


def test_the_coverage_table_is_printed_whole_when_the_output_is_not_a_terminal() -> None:
    """A log used to read ``day_ag…`` and ``expect…``: the table is printed at the width it needs."""
    log = io.StringIO()
    console = Console(file=log, width=120)  # what the lake command uses when stdout is not a terminal
    complete = print_coverage(console, [
        Coverage("spp_nodal_prices", "2024-01-01", "2026-12-06", 1071, 1071, 1071, [], [], 0),
        Coverage("day_aggs", "2024-01-02", "2026-12-04", 735, 735, 735, [], [], 333)])
    table = log.getvalue()
    assert complete and "…" not in table
    for word in ("spp_nodal_prices", "2026-12-06", "expected", "published", "unpublished", "quarantined", "333"):
        assert word in table
    assert console.width == 120  # the rest of the output keeps its width
