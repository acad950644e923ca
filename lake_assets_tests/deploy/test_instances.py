"""Every Dagster instance config the project ships, loaded by Dagster itself, so that a misspelt or mistyped key fails
here and not in a pod at start: dagster_home/dagster.yaml, deploy/dagster.yaml and the instance in the chart's
ConfigMap. Without a database, everything but the storage goes through Dagster's schema (each configurable class,
the step logs' manager included, built as the processes build it); with a throwaway PostgreSQL, the production
configs load whole, storage included."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
from dagster_postgres import PostgresEventLogStorage

from lake_assets_tests.deploy.postgres import ThrowawayPostgres
from lake_assets_tests.deploy.test_chart import ROOT, _chart_instance, _render, _yaml

#: The step logs' bucket deploy/dagster.yaml reads from the environment.
LOGS_BUCKET = {"DAGSTER_COMPUTE_LOGS_BUCKET": "lake-dagster-logs"}


def shipped() -> dict[str, dict[str, Any]]:
    """Each instance config as its processes read it."""
    return {"dagster_home": _yaml(ROOT / "dagster_home" / "dagster.yaml"),
            "deploy": _yaml(ROOT / "deploy" / "dagster.yaml"),
            "chart": _chart_instance(_render())}


@contextmanager
def loaded_without_storage(config: Mapping[str, Any]) -> Iterator[dg.DagsterInstance]:
    """The instance of ``config`` on a temporary SQLite storage, every configurable class built: Dagster builds
    them on first use, and checks their config then."""
    with dg.instance_for_test(overrides={key: value for key, value in config.items() if key != "storage"}) as instance:
        for built in (instance.run_coordinator, instance.run_launcher, instance.compute_log_manager,
                      instance.scheduler):
            assert built is not None
        yield instance


@pytest.mark.parametrize("name", ["dagster_home", "deploy", "chart"])
def test_each_shipped_instance_passes_dagsters_own_schema(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in LOGS_BUCKET.items():
        monkeypatch.setenv(variable, value)
    config = shipped()[name]
    with loaded_without_storage(config) as instance:
        assert instance.run_retries_max_retries == config["run_retries"]["max_retries"]
        assert instance.run_monitoring_poll_interval_seconds == config["run_monitoring"]["poll_interval_seconds"]
        if name != "dagster_home":  # production: step logs in S3, encrypted
            manager = instance.compute_log_manager
            assert isinstance(manager, S3ComputeLogManager)
            assert manager.inst_data is not None
            assert manager.inst_data.config_dict["upload_extra_args"] == {"ServerSideEncryption": "AES256"}


@pytest.mark.parametrize("section, key", [("run_retries", "max_retry"), ("run_monitoring", "poll_interval"),
                                          ("sensors", "workers"), ("compute_logs", "upload_extra_arg")])
def test_a_misspelt_key_is_refused_by_dagster(section: str, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in LOGS_BUCKET.items():
        monkeypatch.setenv(variable, value)
    config = shipped()["deploy"]
    (config[section]["config"] if section == "compute_logs" else config[section])[key] = 2
    with pytest.raises(dg.DagsterInvalidConfigError, match=f'unexpected config entry "{key}"'):
        with loaded_without_storage(config):
            pass


@pytest.mark.integration
def test_the_production_instances_load_whole_on_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy/dagster.yaml with its environment, and the chart's ConfigMap rendered for this database, each loaded as
    a process loads its instance: storage, policy and step logs, checked and connected."""
    with ThrowawayPostgres() as postgres, tempfile.TemporaryDirectory() as work:
        for variable, value in {**postgres.env, **LOGS_BUCKET}.items():
            monkeypatch.setenv(variable, value)
        chart = _chart_instance(_render({"postgresql": {
            "host": "127.0.0.1", "port": postgres.port, "username": postgres.username,
            "database": postgres.db_name}}))
        for name, config in (("deploy", _yaml(ROOT / "deploy" / "dagster.yaml")), ("chart", chart)):
            home = Path(work) / name
            home.mkdir()
            (home / "dagster.yaml").write_text(yaml.safe_dump(config))
            instance = dg.DagsterInstance.from_config(str(home))
            try:
                assert isinstance(instance.event_log_storage, PostgresEventLogStorage), name
                assert isinstance(instance.compute_log_manager, S3ComputeLogManager), name
                assert instance.get_runs() == []
            finally:
                instance.dispose()
