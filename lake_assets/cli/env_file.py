"""The code location's settings as a ``.env`` file: written for the embedded server, merged, checked.

``dagster dev``, ``dagster-daemon``, ``dagster-webserver`` and ``dagster code-server`` load ``.env``
from the directory they start in, its values over the environment's; :func:`effective_environment` reads
them the same way, for every ``lake`` command.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

from lake_assets.local_s3 import EmbeddedS3
from lake_assets.orchestration.settings import (
    PREFIXES,
    SETTINGS,
    SettingError,
    bucket_from_env,
    describe_place,
    resource_env,
    settings_from_env,
    transfer_config,
)
from lake_assets.s3 import S3Error

#: Buckets the code location uses on the embedded server: the vendor's, and the lake.
VENDOR_BUCKET = "vendor"
LAKE_BUCKET = "lake"
#: Whether the code location writes through each resource: the lake's identity is probed with a write.
WRITES = {"VENDOR_S3": False, "LAKE_S3": True}
#: The object a write probe puts and deletes again, at the top of the lake's bucket.
PROBE_KEY = ".lake-config-probe"
#: The fields a check report shows in full; keys are shortened, secrets never shown.
_SHOWN = ("endpoint_url", "region_name", "profile_name", "sse", "kms_key_id", "addressing_style", "engine")


def dagster_env(server: EmbeddedS3, dagster_home: Path, identity: str = "admin") -> dict[str, str]:
    """Return the variables that point the code location at ``server`` and its instance at ``dagster_home``."""
    config = server.transfer_config(identity)
    return {**resource_env("VENDOR_S3", VENDOR_BUCKET, config), **resource_env("LAKE_S3", LAKE_BUCKET, config),
            "DAGSTER_HOME": str(dagster_home.resolve())}


def dagster_home(flag: Path | None, environ: Mapping[str, str]) -> Path:
    """The Dagster instance's directory: ``--dagster-home``, else ``DAGSTER_HOME`` of ``environ`` (the environment
    with ``.env`` over it, as Dagster's commands read it), else ``./dagster_home``."""
    return flag or Path(environ.get("DAGSTER_HOME") or "dagster_home")


def is_setting(name: str) -> bool:
    """True for the variables :func:`dagster_env` owns: every ``<prefix>_*`` setting and ``DAGSTER_HOME``."""
    suffixes = ("BUCKET", *SETTINGS)
    return name == "DAGSTER_HOME" or any(name == f"{prefix}_{suffix}" for prefix in PREFIXES for suffix in suffixes)


def merge_env_file(path: Path, values: Mapping[str, str]) -> list[str]:
    """Write ``values`` into the ``.env`` file at ``path``; return the names whose value changed.

    Lines of other variables (and comments) are kept as they were; every setting :func:`is_setting`
    owns is replaced, so a setting left over from another endpoint cannot mix with these. The file
    is written whole to a temporary file and renamed over the old one, readable by its owner only
    (it holds keys).
    """
    before = {name: value for name, value in dotenv_values(path).items() if value is not None} if path.exists() else {}
    kept = [line for line in (path.read_text().splitlines() if path.exists() else [])
            if not is_setting(line.split("=", 1)[0].removeprefix("export ").strip())]
    text = "\n".join([*kept, *(f"{name}={value}" for name, value in values.items())]) + "\n"
    staged = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.replace(staged, path)
    dropped = [name for name in before if is_setting(name) and name not in values]
    return [name for name, value in values.items() if before.get(name) != value] + dropped


def _loaded(env_file: Path) -> dict[str, str]:
    loaded = dotenv_values(env_file) if env_file.exists() else {}
    return {name: value for name, value in loaded.items() if value is not None}


def effective_environment(env_file: Path) -> dict[str, str]:
    """The environment a dagster command started here sees: this one, with ``env_file``'s values over it."""
    return {**os.environ, **_loaded(env_file)}


def shadowed_by_env_file(env_file: Path) -> list[str]:
    """A line per setting that ``env_file`` and the shell both set, differently: ``.env``'s value is the one used
    (Dagster's rule), and a user who exported the other should know."""
    return [f"{name}: .env's value is used, not the shell's ({env_file} over the environment, as Dagster's "
            "commands read it)" for name, value in _loaded(env_file).items()
            if is_setting(name) and os.environ.get(name) and os.environ[name] != value]


def _describe(prefix: str, bucket: str, fields: Mapping[str, object]) -> str:
    shown = ", ".join(f"{name}={fields[name]}" for name in _SHOWN if fields.get(name))
    key = fields.get("aws_access_key_id")
    identity = f"key {str(key)[:4]}… (secret set)" if key else (
        f"profile {fields['profile_name']}" if fields.get("profile_name") else "the standard AWS credential chain")
    return f"{prefix}: bucket {bucket}, {identity}" + (f", {shown}" if shown else ", AWS defaults")


def check_settings(environ: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Return a line per resource describing its settings in ``environ``, and a message per missing or wrong
    variable."""
    report: list[str] = []
    problems: list[str] = []
    for prefix in PREFIXES:
        try:
            bucket = bucket_from_env(prefix, environ)
            report.append(_describe(prefix, bucket, settings_from_env(prefix, environ)))
        except SettingError as exc:
            problems.append(str(exc))
    return report, problems


def probe_settings(environ: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Reach each resource's bucket with its own identity, as its runs will: the bucket answers (HeadBucket),
    lists, and for the lake takes and gives back a write; return a line per resource reached, and a line per
    problem naming the bucket, the endpoint and what is wrong (a missing bucket, rejected keys, no permission).
    Resources whose settings are themselves wrong are left to :func:`check_settings`."""
    from lake_assets.s3 import S3Handler  # boto3: imported by the commands that reach a bucket only

    reached: list[str] = []
    problems: list[str] = []
    for prefix in PREFIXES:
        try:
            bucket, config = bucket_from_env(prefix, environ), transfer_config(settings_from_env(prefix, environ))
        except SettingError:
            continue
        where = describe_place(prefix, bucket, config.endpoint_url)
        try:
            with S3Handler(config) as s3:
                s3.check_bucket(bucket)
                next(iter(s3.iter_objects(bucket)), None)
                if WRITES[prefix]:
                    s3.put_bytes(bucket, PROBE_KEY, b"", overwrite=True)
                    s3.delete_objects(bucket, [PROBE_KEY])
        except S3Error as exc:
            problems.append(f"{where}: {exc}")
            continue
        reached.append(f"{where}: reached, listed{', written and deleted' if WRITES[prefix] else ''}")
    return reached, problems
