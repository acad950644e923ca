"""The ``lake`` command: the demo end to end on its own server, and the server subcommands."""

from __future__ import annotations

from pathlib import Path

import pytest

from lake_assets.cli import main
from lake_assets.local_s3 import free_ports

pytestmark = pytest.mark.integration


def test_demo_uploads_downloads_and_verifies_then_skips_on_a_second_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--home", str(tmp_path), "--port", str(free_ports().s3)]
    demo = [*base, "demo", "--files", "30", "--small-kib", "4", "--large-mib", "9"]
    assert main(demo) == 0
    first = capsys.readouterr().out
    assert "31 files" in first and "all files verified byte-identical" in first
    assert main(demo) == 0
    second = capsys.readouterr().out
    assert "all files verified byte-identical" in second
    assert "'HeadObject': 31" in second and "PutObject" not in second  # all 31 found, none re-sent
    assert main([*base, "s3", "status"]) == 1  # the demo stopped the server it started


def test_server_subcommands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--home", str(tmp_path), "--port", str(free_ports().s3)]
    try:
        assert main([*base, "s3", "up"]) == 0
        assert main([*base, "s3", "status"]) == 0
        assert "running" in capsys.readouterr().out
        assert main([*base, "s3", "env", "--identity", "reader"]) == 0
        exports = capsys.readouterr().out
        assert "AWS_ACCESS_KEY_ID=LAKEREADER" in exports and "AWS_ENDPOINT_URL=http://127.0.0.1:" in exports
    finally:
        assert main([*base, "s3", "down"]) == 0
    assert "stopped" in capsys.readouterr().out
