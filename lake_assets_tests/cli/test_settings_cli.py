"""The ``lake`` command without Dagster: help that says what each subcommand does and starts, the light
commands importing neither Dagster nor polars, and the code location's settings written to and checked in ``.env``."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from lake_assets.cli import main
from lake_assets.cli.commands import build_parser
from lake_assets.local_s3 import free_ports

_PROBE = """
import json, sys
from lake_assets.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'dagster', 'polars', 'dagster_aws'})))
"""


@pytest.mark.parametrize("argv", [["--help"], ["s3", "env"], ["s3", "env", "--dagster"], ["s3", "status"],
                                  ["run", "--help"], ["config", "--env-file", "missing.env"]])
def test_light_commands_import_neither_dagster_nor_polars(argv: list[str], tmp_path: Path) -> None:
    args = ["--home", str(tmp_path), "--port", str(free_ports().s3), *argv]
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, cwd=tmp_path,
                          timeout=60)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found[sub.prog.removeprefix("lake ")] = sub
                found.update(_subcommands(sub))
    return found


def test_every_subcommand_says_what_it_does_and_what_it_starts() -> None:
    subcommands = _subcommands(build_parser())
    assert {"run", "status", "ui", "config", "transfer-demo", "s3", "s3 up", "s3 env", "s3 status"} <= set(subcommands)
    terse = {name: sub.description for name, sub in subcommands.items()
             if not sub.description or len(sub.description) < 60 or "start" not in sub.description.lower()}
    assert terse == {}


def test_dagster_settings_are_merged_into_env_and_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          no_lake_settings: None) -> None:
    env = tmp_path / ".env"
    env.write_text("# mine\nSLACK_TOKEN=keep-me\nLAKE_S3_PROFILE=production\nexport LAKE_S3_KMS_KEY_ID=alias/x\n")
    base = ["--home", str(tmp_path / "home"), "--port", str(free_ports().s3), "--dagster-home", str(tmp_path / "dh")]
    assert main([*base, "s3", "env", "--dagster", "--write", str(env)]) == 0
    assert "LAKE_S3_PROFILE" in capsys.readouterr().out  # named among the changes: a leftover is dropped
    values = dotenv_values(env)
    assert values["SLACK_TOKEN"] == "keep-me" and "# mine" in env.read_text()
    assert "LAKE_S3_PROFILE" not in values and "LAKE_S3_KMS_KEY_ID" not in values
    assert (values["LAKE_S3_BUCKET"], values["VENDOR_S3_BUCKET"], values["LAKE_S3_ADDRESSING_STYLE"]) == (
        "lake", "vendor", "path")
    assert values["DAGSTER_HOME"] == str((tmp_path / "dh").resolve())
    assert env.stat().st_mode & 0o777 == 0o600

    assert main(["config", "--env-file", str(env)]) == 0
    report = capsys.readouterr().out
    assert "LAKE_S3: bucket lake, key LAKE… (secret set), endpoint_url=http://127.0.0.1:" in report
    assert values["LAKE_S3_SECRET_ACCESS_KEY"] not in report

    env.write_text(env.read_text().replace("LAKE_S3_BUCKET=lake\n", "") + "LAKE_S3_SSE=aes256\nVENDOR_S3_SSE=kms\n")
    assert main(["config", "--env-file", str(env)]) == 2
    errors = capsys.readouterr().out
    assert "LAKE_S3_BUCKET is not set" in errors
    assert "VENDOR_S3_SSE must be one of AES256, aws:kms, none; got 'kms'" in errors
    assert "Traceback" not in errors
