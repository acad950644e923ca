"""What of the image can be checked without Docker (none runs here): the Dockerfile's inputs exist and pin what the
test suite ran, plus the deployment's own libraries, and it serves the code location the workspaces name. The
chart and the instance policy are lake_assets_tests/deploy/test_chart.py's."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _pins(lock: Path) -> dict[str, str]:
    return dict(re.findall(r"^([a-z0-9_.-]+)==(\S+)", lock.read_text(), re.MULTILINE))


def test_the_chart_the_image_and_the_workspace_serve_the_same_code_location() -> None:
    code_location = _yaml(DEPLOY / "chart" / "values.yaml")["codeLocation"]
    module = code_location["module"]
    command = (DEPLOY / "Dockerfile").read_text().split("CMD ", 1)[1]
    assert f'"--module-name", "{module}"' in command and f'"--port", "{code_location["port"]}"' in command
    grpc, = (entry["grpc_server"] for entry in _yaml(DEPLOY / "workspace.yaml")["load_from"])
    local, = (entry["python_module"] for entry in _yaml(ROOT / "workspace.yaml")["load_from"])
    assert module == local["module_name"] and grpc["location_name"] == local["location_name"]
    assert hasattr(importlib.import_module(module), "defs")


def test_the_image_installs_what_the_tests_ran_plus_postgres_and_kubernetes() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    sources = [source for line in dockerfile.splitlines() if line.startswith("COPY ")
               for source in line.split()[1:-1]]
    assert sources and all((ROOT / source).exists() for source in sources), sources
    assert "-r deploy/requirements.lock" in dockerfile and "--require-hashes" in dockerfile
    image, tested = _pins(DEPLOY / "requirements.lock"), _pins(ROOT / "requirements.lock")
    assert {name: version for name, version in image.items() if tested.get(name, version) != version} == {}
    assert image["dagster-k8s"] == image["dagster-postgres"] == tested["dagster-aws"] == "0.29.27"
    assert image["dagster"] == "1.13.27"
