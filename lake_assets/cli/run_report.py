"""What a ``lake run`` did, told from the runs the daemon made while it ran (their records: public Dagster API)."""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from lake_assets.lake.datasets import DatasetSpec
from lake_assets.orchestration.factory import due_job_name, ingest_job_name, rollup_job_name
from lake_assets.orchestration.tags import run_partitions


@dataclass
class DatasetRuns:
    """A dataset's runs: ingest runs and the partitions they covered, rolled-up months, due-check runs."""

    runs: int = 0
    partitions: int = 0
    months: int = 0
    due_runs: int = 0


@dataclass
class RunTally:
    """The runs of one ``lake run``, by dataset and, for the assets built on the lake, by asset."""

    specs: list[DatasetSpec]
    defs: dg.Definitions
    datasets: dict[str, DatasetRuns] = field(init=False)  # by name, one for each of ``specs``
    built: dict[str, set[str]] = field(default_factory=dict)  # asset -> the partitions its runs materialised
    built_runs: int = 0
    failed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.datasets = {spec.name: DatasetRuns() for spec in self.specs}

    def add(self, record: dg.RunRecord) -> str:
        """Count one finished run; return what it did, as a reader wants it (``day_aggs 2024-01-02..2024-03-28``)."""
        run = record.dagster_run
        for spec in self.specs:
            mine = self.datasets[spec.name]
            if run.job_name == ingest_job_name(spec):
                keys = self._keys(run, self.defs.resolve_job_def(run.job_name).partitions_def)
                mine.runs, mine.partitions = mine.runs + 1, mine.partitions + len(keys)
                return self._done(run, f"{spec.name} {_span(keys)}")
            if run.job_name == rollup_job_name(spec):
                keys = self._keys(run, self.defs.resolve_job_def(run.job_name).partitions_def)
                mine.months += len(keys)
                return self._done(run, f"{spec.name} monthly {_span(tuple(key[:7] for key in keys))}")
            if run.job_name == due_job_name(spec):
                mine.due_runs += 1
                return self._done(run, f"{spec.name} due checks")
        assets = sorted(run.asset_selection or ())
        partitions = self.defs.resolve_assets_def(assets[0]).partitions_def if assets else None
        keys = self._keys(run, partitions)
        self.built_runs += 1
        for asset in assets:
            self.built.setdefault(asset.to_user_string(), set()).update(keys)
        return self._done(run, f"{', '.join(asset.to_user_string() for asset in assets) or run.job_name} "
                               f"{_span(keys)}".strip())

    def _done(self, run: dg.DagsterRun, what: str) -> str:
        if run.status != dg.DagsterRunStatus.SUCCESS:
            self.failed.append(what)
        return what

    @staticmethod
    def _keys(run: dg.DagsterRun, partitions: dg.PartitionsDefinition | None) -> tuple[str, ...]:
        return tuple(run_partitions(dict(run.tags), partitions)) if partitions is not None else ()

    def lines(self) -> list[str]:
        """One line per dataset and one for the assets built on the lake."""
        lines = [f"{name}: {runs.runs} runs over {runs.partitions} partitions, {runs.months} monthly rollups, "
                 f"{runs.due_runs} due-check runs" for name, runs in self.datasets.items()]
        done = ", ".join(f"{asset} {len(keys)}" for asset, keys in sorted(self.built.items())) or "nothing requested"
        return [*lines, f"assets built on the lake: {self.built_runs} runs ({done})"]


def _span(keys: tuple[str, ...]) -> str:
    """A run's partitions as a reader wants them: a key, a range, or nothing for an unpartitioned run."""
    return f"{keys[0]}..{keys[-1]}" if len(keys) > 1 else (keys[0] if keys else "")
