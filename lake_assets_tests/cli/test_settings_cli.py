"""The ``lake`` command without Dagster: help that says what each subcommand does and starts, the light
commands importing neither Dagster, polars nor boto3, and the code location's settings written to and checked in ``.env``."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from dotenv import dotenv_values

from lake_assets.cli import main
from lake_assets.cli.commands import build_parser
from lake_assets.cli.env_file import is_setting
from lake_assets.cli.main_job import sample_end
from lake_assets.cli.target import choose
from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.local_s3 import EmbeddedS3, Ports, free_ports
from lake_assets.orchestration.settings import resource_env
from lake_assets.s3 import S3Handler

_PROBE = """
import json, sys
from lake_assets.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'dagster', 'polars', 'dagster_aws', 'boto3',
                                                                  'botocore', 's3transfer', 'awscrt'})))
"""


@pytest.mark.parametrize("argv", [["--help"], ["s3", "env"], ["s3", "env", "--dagster"], ["s3", "status"],
                                  ["run", "--help"], ["config", "--env-file", "missing.env"]])
def test_light_commands_import_neither_dagster_polars_nor_boto3(argv: list[str], tmp_path: Path) -> None:
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


@pytest.mark.integration
@pytest.mark.parametrize(("lake_bucket", "identity", "keys", "message"), [
    (None, "admin", None, "LAKE_S3: s3://{bucket} at {endpoint}: reached, listed, written and deleted"),
    ("no-such-bucket", "admin", None, "bucket s3://no-such-bucket does not exist at {endpoint}"),
    (None, "admin", ("NOPE", "wrong-secret"), "(check the access key, secret and profile)"),
    (None, "reader", None, "PutObject s3://{bucket}/.lake-config-probe failed"),
], ids=["reached", "missing-bucket", "wrong-keys", "read-only-identity"])
def test_config_check_reaches_each_bucket_with_its_identity_and_names_what_is_wrong(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, no_lake_settings: None,
        seaweed: EmbeddedS3, bucket: str, lake_bucket: str | None, identity: str, keys: tuple[str, str] | None,
        message: str) -> None:
    lake = resource_env("LAKE_S3", lake_bucket or bucket, seaweed.transfer_config(identity))
    if keys:
        lake.update(LAKE_S3_ACCESS_KEY_ID=keys[0], LAKE_S3_SECRET_ACCESS_KEY=keys[1])
    for name, value in {**resource_env("VENDOR_S3", bucket, seaweed.transfer_config("reader")), **lake}.items():
        monkeypatch.setenv(name, value)
    before = _listing(seaweed, bucket)
    code = main(["config", "--check", "--env-file", str(tmp_path / "none.env")])
    out = " ".join(capsys.readouterr().out.split())  # rich folds long lines
    assert message.format(bucket=bucket, endpoint=seaweed.endpoint_url) in out
    assert code == (0 if lake_bucket is None and identity == "admin" and not keys else 2)
    assert f"VENDOR_S3: s3://{bucket} at {seaweed.endpoint_url}: reached, listed" in out  # the reader may read
    assert _listing(seaweed, bucket) == before  # the probe leaves nothing behind
    assert "Traceback" not in out


def _listing(seaweed: EmbeddedS3, bucket: str) -> list[str]:
    with S3Handler(seaweed.transfer_config(show_progress=False)) as s3:
        return [info.key for info in s3.iter_objects(bucket)]


def _write_env(path: Path, seaweed: EmbeddedS3, vendor_bucket: str, lake_bucket: str, **extra: str) -> Path:
    """A ``.env`` configuring both resources on ``seaweed`` (the lake in ``lake_bucket``), plus ``extra`` lines."""
    lines = {**resource_env("VENDOR_S3", vendor_bucket, seaweed.transfer_config("reader")),
             **resource_env("LAKE_S3", lake_bucket, seaweed.transfer_config()), **extra}
    path.write_text("".join(f"{name}={value}\n" for name, value in lines.items()))
    return path


def _errors(out: str) -> list[str]:
    """The ``error:`` lines a command printed, unwrapped (rich folds long lines off a terminal)."""
    return [f"error:{line}" for line in " ".join(out.split()).split("error:")[1:]]


@pytest.mark.integration
@pytest.mark.parametrize(("lake_bucket", "extra", "message"), [
    ("no-such-bucket", {}, "LAKE_S3: s3://no-such-bucket at {endpoint}: bucket s3://no-such-bucket does not exist"),
    (None, {"LAKE_S3_SSE": "aes256"}, "LAKE_S3_SSE must be one of AES256, aws:kms, none; got 'aes256'"),
], ids=["missing-bucket", "wrong-choice"])
def test_a_wrong_env_value_is_named_the_same_way_by_lake_config_run_ui_and_a_dagster_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], no_lake_settings: None, seaweed: EmbeddedS3,
        bucket: str, lake_bucket: str | None, extra: dict[str, str], message: str) -> None:
    """Issue 30's first test: one settings rule, so one wrong value in ``.env`` is named by every command, and no
    command that refuses leaves a server running or publishes anything."""
    env = _write_env(tmp_path / ".env", seaweed, bucket, lake_bucket or bucket, **extra)
    expected = message.format(endpoint=seaweed.endpoint_url)
    home = ["--home", str(tmp_path / "home"), "--port", str(free_ports().s3), "--dagster-home", str(tmp_path / "dh")]
    before = _listing(seaweed, bucket)
    said: dict[str, list[str]] = {}
    for command in (["config", "--check"], ["run"], ["status"], ["ui", "--ui-port", "9"]):
        assert main([*home, *command, "--env-file", str(env)]) == 2, command
        said[command[0]] = _errors(capsys.readouterr().out)
    assert all(any(expected in line for line in lines) for lines in said.values()), said
    assert said["run"] == said["ui"] == said["status"] and set(said["run"]) <= set(said["config"])
    assert EmbeddedS3(tmp_path / "home" / "s3", Ports(int(home[3]))).running_pid() is None  # nothing left running
    assert _listing(seaweed, bucket) == before  # no sample published to a configured lake

    clean = {name: value for name, value in os.environ.items() if not is_setting(name)}
    (tmp_path / "dh").mkdir()
    dagster = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "lake_assets.definitions",
         "--select", "day_aggs/raw", "--partition", "2024-01-02"], cwd=tmp_path, capture_output=True, text=True,
        env={**clean, "DAGSTER_HOME": str(tmp_path / "dh")}, timeout=300)  # reads ./.env, as every dagster command
    assert dagster.returncode != 0
    assert expected in " ".join((dagster.stdout + dagster.stderr).split()), dagster.stderr[-3000:]


@pytest.mark.integration
def test_a_configured_lake_is_used_and_the_embedded_server_only_when_none_is_or_when_asked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, no_lake_settings: None,
        seaweed: EmbeddedS3, bucket: str) -> None:
    env = _write_env(tmp_path / ".env", seaweed, bucket, bucket)
    home = ["--home", str(tmp_path / "home"), "--port", str(free_ports().s3), "--dagster-home", str(tmp_path / "dh")]
    embedded = EmbeddedS3(tmp_path / "home" / "s3", Ports(int(home[3])))
    assert main([*home, "status", "--env-file", str(env)]) == 1  # an empty lake: nothing published is incomplete
    out = " ".join(capsys.readouterr().out.split())
    assert (f"lake: the configured lake (VENDOR_S3: s3://{bucket} at {seaweed.endpoint_url}; LAKE_S3: s3://{bucket} "
            f"at {seaweed.endpoint_url}; from the environment and {env})") in out
    assert "starting the embedded S3" not in out and embedded.running_pid() is None

    assert main([*home, "status", "--env-file", str(env), "--embedded"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert f"lake: the embedded S3 at {embedded.endpoint_url} (--embedded)" in out
    assert f"starting the embedded S3 at {embedded.endpoint_url}" in out and embedded.running_pid() is None

    assert main([*home, "status", "--env-file", str(tmp_path / "none.env")]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "lake: the embedded S3 at" in out and "no lake configured: LAKE_S3_BUCKET is set neither" in out

    env.write_text(env.read_text() + f"DAGSTER_HOME={tmp_path / 'from-env'}\n")  # the instance too, by the same rule
    where = ["--home", str(tmp_path / "home"), "--port", home[3]]
    assert choose(build_parser().parse_args([*where, "run", "--env-file", str(env)])).environ["DAGSTER_HOME"] == str(
        tmp_path / "from-env")
    flagged = build_parser().parse_args([*where, "--dagster-home", str(tmp_path / "flag"), "ui", "--env-file", str(env)])
    assert choose(flagged).environ["DAGSTER_HOME"] == str(tmp_path / "flag")  # the flag, set explicitly, wins

    monkeypatch.setenv("LAKE_S3_BUCKET", "the-shells-lake")  # .env wins, as in every dagster command, and says so
    assert main(["config", "--env-file", str(env)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"LAKE_S3: bucket {bucket}" in out
    assert "note: LAKE_S3_BUCKET: .env's value is used, not the shell's" in out


def test_the_sample_runs_to_the_newest_day_due_so_the_demo_lake_is_complete_and_fresh() -> None:
    """Sunday 2026-12-06: Friday's file was due Saturday at 11:00 New York time; Monday's is not due yet."""
    sunday = datetime(2026, 12, 6, 12, tzinfo=timezone.utc)
    assert sample_end(DAY_AGGS, sunday, None) == date(2026, 12, 4)
    assert sample_end(DAY_AGGS, sunday, date(2024, 3, 31)) == date(2024, 3, 31)  # a vendor that lags
    thursday_early = datetime(2026, 12, 3, 15, tzinfo=timezone.utc)  # 10:00 in New York: Wednesday's not due yet
    assert sample_end(DAY_AGGS, thursday_early, None) == date(2026, 12, 1)
    assert sample_end(DAY_AGGS, datetime(2023, 12, 1, tzinfo=timezone.utc), None) is None  # before the start
    parsed = build_parser().parse_args(["run", "--sample-until", "2024-03-31"])
    assert parsed.sample_until == date(2024, 3, 31) and build_parser().parse_args(["run"]).sample_until is None
