"""The lake as a Dagster component in a ``dg`` project: ``dg check defs`` and ``dg list defs`` load the defs folder
and see both datasets, ``dg scaffold defs`` adds a dataset that joins the code location, a bad declaration fails
``dg check defs`` naming its file, and ``dg dev`` serves the project's code location."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from lake_assets.lake.datasets.config import load_datasets
from lake_assets.orchestration.component import COMPONENT_TYPE, declared_datasets
from lake_assets_tests.cli.test_ui import REPO, _free_port, _stop_group, _wait_for_ui

pytestmark = pytest.mark.integration
DG = str(Path(sys.executable).parent / "dg")
#: What each dataset's component builds, by asset key suffix, and the sensors named after the dataset.
PER_DATASET_ASSETS = ("raw", "curated", "monthly")
PER_DATASET_SENSORS = ("missing_partitions", "rollups", "freshness")


def dg(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``dg`` in ``cwd``, as a user runs it from the project's root."""
    return subprocess.run([DG, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def listed(cwd: Path = REPO, env: dict[str, str] | None = None) -> dict[str, list[dict[str, object]]]:
    """``dg list defs --json``, parsed."""
    result = dg("list", "defs", "--json", cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def expected_assets(names: list[str]) -> set[str]:
    return {f"{name}/{suffix}" for name in names for suffix in PER_DATASET_ASSETS}


def test_dg_check_defs_and_list_defs_see_both_datasets() -> None:
    checked = dg("check", "defs")
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-3000:]
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr
    defs = listed()
    names = [spec.name for spec in declared_datasets()]
    assert names == ["day_aggs", "spp_nodal_prices"]
    assets = {str(asset["asset_key"]) for asset in defs["assets"]}
    assert assets == expected_assets(names) | {"analytics/daily_returns", "analytics/volatility_20d"}
    sensors = {str(sensor["name"]) for sensor in defs["sensors"]}
    assert sensors == {f"{name}_{kind}" for name in names for kind in PER_DATASET_SENSORS} | {"lake_automation"}
    assert {str(schedule["name"]) for schedule in defs["schedules"]} == {f"{name}_due" for name in names}
    assert {str(resource["name"]) for resource in defs["resources"]} == {"vendor_s3", "lake_s3", "io_manager"}
    sources = {str(job["name"]): str(job["source"]) for job in defs["jobs"]}
    assert sources["day_aggs_ingest"].startswith("lake_assets/defs/day_aggs/defs.yaml")


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the project, and an environment whose Python imports ``lake_assets`` from that copy."""
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(REPO / "lake_assets", tmp_path / "lake_assets", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path, {**os.environ, "PYTHONPATH": str(tmp_path)}


def test_a_dataset_scaffolded_with_dg_joins_the_code_location(project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    made = dg("scaffold", "defs", COMPONENT_TYPE, "index_history", "--kind", "day_aggs", "--start-date", "2006-01-03",
              "--source", "indices/daily/{yyyy}/{date}.csv.gz", cwd=root, env=env)
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-3000:]
    declaration = root / "lake_assets" / "defs" / "index_history" / "defs.yaml"
    assert "start_date: 2006-01-03\n" in declaration.read_text()
    specs = load_datasets(root / "lake_assets" / "defs", COMPONENT_TYPE)
    assert [spec.name for spec in specs] == ["day_aggs", "index_history", "spp_nodal_prices"]
    assets = {str(asset["asset_key"]) for asset in listed(root, env)["assets"]}
    assert expected_assets(["index_history"]) <= assets


def test_a_bad_declaration_fails_dg_check_defs_naming_its_file(project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    declaration = root / "lake_assets" / "defs" / "feed" / "defs.yaml"
    declaration.parent.mkdir()
    declaration.write_text(f"type: {COMPONENT_TYPE}\nattributes:\n  name: feed\n  kind: minute_aggs\n")
    checked = dg("check", "defs", cwd=root, env=env)
    output = checked.stdout + checked.stderr
    assert checked.returncode != 0
    assert "unknown kind 'minute_aggs'" in output and "feed/defs.yaml" in output


def test_dg_dev_serves_the_code_location(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "dg-dev.log"
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    with log.open("wb") as out:
        process = subprocess.Popen([DG, "dev", "--host", "127.0.0.1", "--port", str(port)], cwd=REPO, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_ui(url, process, log)
        query = json.dumps({"query": "{ assetNodes { assetKey { path } } }"}).encode()
        request = urllib.request.Request(f"{url}/graphql", data=query, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            nodes = json.load(answer)["data"]["assetNodes"]
        assets = {"/".join(node["assetKey"]["path"]) for node in nodes}
        assert expected_assets(["day_aggs", "spp_nodal_prices"]) <= assets
    finally:
        _stop_group(process)
