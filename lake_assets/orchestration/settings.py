"""The one registry of an S3 resource's settings: the ``<prefix>_*`` variables, their parsing, what leaving one unset
means, and the rule every command resolves them by.

The rule (:func:`resolve_settings`): a field the resource is configured with explicitly wins; a field it leaves
unset takes its ``<prefix>_*`` variable; a field neither sets takes the transfer layer's default. ``.env``
counts as the environment, its values over the shell's, as Dagster's own commands load it. Plain Python (no
Dagster import), so the ``lake`` command prints and checks the settings without paying for Dagster. Only
``<prefix>_BUCKET`` is required; every other variable may be left out or empty, which means "not set": AWS's
endpoint, the standard credential chain (``AWS_PROFILE``, role, SSO, IRSA) and the transfer layer's defaults.
The region falls back to ``AWS_REGION``, then ``AWS_DEFAULT_REGION``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_args

from lake_assets.s3 import S3TransferConfig
from lake_assets.s3.config import AddressingStyle, Engine

#: The prefixes of the code location's two resources: the vendor's source and the lake.
PREFIXES = ("VENDOR_S3", "LAKE_S3")
#: AWS's own region variables, read in this order when ``<prefix>_REGION`` is not set.
AWS_REGION_VARS = ("AWS_REGION", "AWS_DEFAULT_REGION")
#: Values the choice variables accept.
SSE_MODES = ("AES256", "aws:kms", "none")
ADDRESSING_STYLES: tuple[str, ...] = get_args(AddressingStyle)
ENGINES: tuple[str, ...] = get_args(Engine)


class SettingError(ValueError):
    """A variable is missing or holds a value it cannot take; the message names the variable."""


@dataclass(frozen=True)
class Setting:
    """One optional variable: the resource field it sets, how its text becomes a value, what it sets, and what
    leaving it unset means."""

    field: str
    parse: Callable[[str, str], Any]
    help: str
    unset: str


def _text(name: str, value: str) -> str:
    return value


def _whole(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SettingError(f"{name} must be a whole number; got {value!r}") from None
    if number < 1:
        raise SettingError(f"{name} must be at least 1; got {value!r}")
    return number


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> Any:
    """Return ``value`` if it is one of ``choices``.

    Raises:
        SettingError: naming ``name``, the choices and the value.
    """
    if value not in choices:
        raise SettingError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    return lambda name, value: check_choice(name, value, choices)


def _url(name: str, value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise SettingError(f"{name} must start with http:// or https://; got {value!r}")
    return value


_DEFAULTS = S3TransferConfig()
#: The optional variables, by suffix, in the order ``lake s3 env`` writes them.
SETTINGS: dict[str, Setting] = {
    "ENDPOINT_URL": Setting("endpoint_url", _url, "S3-compatible endpoint (SeaweedFS, MinIO, ...)", "AWS"),
    "REGION": Setting("region_name", _text, "region",
                      f"`AWS_REGION`, then `AWS_DEFAULT_REGION`, then `{_DEFAULTS.region}`"),
    "PROFILE": Setting("profile_name", _text, "named AWS profile", "the standard credential chain"),
    "ACCESS_KEY_ID": Setting("aws_access_key_id", _text, "static key, with its secret",
                             "the standard credential chain"),
    "SECRET_ACCESS_KEY": Setting("aws_secret_access_key", _text, "secret of the static key",
                                 "the standard credential chain"),
    "SESSION_TOKEN": Setting("aws_session_token", _text, "session token of temporary static keys", "none"),
    "SSE": Setting("sse", _choice(SSE_MODES), f"server-side encryption: {', '.join(SSE_MODES)}",
                   f"`{_DEFAULTS.encryption_type}`"),
    "KMS_KEY_ID": Setting("kms_key_id", _text, "KMS key, with `SSE=aws:kms`", "the bucket's default key"),
    "ADDRESSING_STYLE": Setting("addressing_style", _choice(ADDRESSING_STYLES),
                                f"{', '.join(ADDRESSING_STYLES)} (`path` for SeaweedFS and MinIO)",
                                f"`{_DEFAULTS.addressing_style}`"),
    "ENGINE": Setting("engine", _choice(ENGINES), "crt or classic (boto3 only)", f"`{_DEFAULTS.engine}`"),
    "MAX_CONCURRENCY": Setting("max_concurrency", _whole, "objects and parts in flight per batch",
                               str(_DEFAULTS.max_concurrency)),
    "MAX_IN_FLIGHT": Setting("max_in_flight", _whole, "requests the crt engine keeps in flight",
                             str(_DEFAULTS.max_in_flight)),
    "MAX_ATTEMPTS": Setting("max_attempts", _whole, "attempts per request, the first included",
                            str(_DEFAULTS.retry_attempts + 1)),
}


def settings_table() -> str:
    """The registry as the README's Configuration table (Markdown), so the two cannot drift apart."""
    rows = ["| variable (`VENDOR_S3_` or `LAKE_S3_` + ...) | sets | unset means |", "| --- | --- | --- |",
            "| `BUCKET` | the bucket | required |"]
    rows += [f"| `{suffix}` | {setting.help} | {setting.unset} |" for suffix, setting in SETTINGS.items()]
    return "\n".join(rows)


def resolve_settings(prefix: str, explicit: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Return the fields in effect: ``explicit`` (a resource's own values; ``None`` or empty means unset), then the
    ``<prefix>_*`` variables of ``environ`` for the fields it leaves unset (none without a prefix); a field neither
    sets is left out, for :func:`transfer_config` to take the transfer layer's default.

    Raises:
        SettingError: a variable holds a value it cannot take (the message names it).
    """
    fields = settings_from_env(prefix, environ) if prefix else {}
    fields.update({name: value for name, value in explicit.items() if value is not None and value != ""})
    return fields


def describe_place(prefix: str, bucket: str, endpoint_url: str | None) -> str:
    """How every message names a resource's bucket: ``LAKE_S3: s3://lake at http://127.0.0.1:18333``."""
    return f"{prefix}: s3://{bucket} at {endpoint_url or 'AWS'}"


def settings_from_env(prefix: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """Return the resource fields set by ``<prefix>_*`` variables in ``environ`` (empty ones left out).

    Raises:
        SettingError: naming every variable that holds a value it cannot take, and a key without its secret.
    """
    fields: dict[str, Any] = {}
    problems: list[str] = []
    for suffix, setting in SETTINGS.items():
        if value := environ.get(f"{prefix}_{suffix}", ""):
            try:
                fields[setting.field] = setting.parse(f"{prefix}_{suffix}", value)
            except SettingError as exc:
                problems.append(str(exc))
    if "region_name" not in fields and (region := next(
            (environ[name] for name in AWS_REGION_VARS if environ.get(name)), "")):
        fields["region_name"] = region
    if ("aws_access_key_id" in fields) != ("aws_secret_access_key" in fields):
        problems.append(f"{prefix}_ACCESS_KEY_ID and {prefix}_SECRET_ACCESS_KEY must be set together "
                        "(or neither, for the standard credential chain)")
    if problems:
        raise SettingError("; ".join(problems))
    return fields


def bucket_from_env(prefix: str, environ: Mapping[str, str]) -> str:
    """Return ``<prefix>_BUCKET``.

    Raises:
        SettingError: it is not set, naming the variable and where to set it.
    """
    bucket = environ.get(f"{prefix}_BUCKET", "")
    if not bucket:
        raise SettingError(f"{prefix}_BUCKET is not set: name the bucket in .env or the environment "
                           "(`lake s3 env --dagster --write .env` writes the embedded server's)")
    return bucket


def resource_env(prefix: str, bucket: str, config: S3TransferConfig) -> dict[str, str]:
    """Return the ``<prefix>_*`` variables that make the resource reach ``bucket`` as ``config`` does.

    Only what differs from the defaults is written, so the result reads as a user would write it.
    """
    defaults = _DEFAULTS
    values = {
        "BUCKET": bucket,
        "ENDPOINT_URL": config.endpoint_url or "",
        "REGION": config.region,
        "PROFILE": config.profile or "",
        "ACCESS_KEY_ID": config.access_key_id or "",
        "SECRET_ACCESS_KEY": config.secret_access_key or "",
        "SESSION_TOKEN": config.session_token or "",
        "SSE": config.encryption_type if config.enable_encryption else "none",
        "KMS_KEY_ID": config.kms_key_id or "",
        "ADDRESSING_STYLE": config.addressing_style if config.addressing_style != defaults.addressing_style else "",
        "ENGINE": config.engine if config.engine != defaults.engine else "",
        "MAX_CONCURRENCY": str(config.max_concurrency) if config.max_concurrency != defaults.max_concurrency else "",
    }
    if values["SSE"] == "AES256":
        values["SSE"] = ""
    return {f"{prefix}_{suffix}": value for suffix, value in values.items() if value}


def transfer_config(fields: Mapping[str, Any], use_ssl: bool = True, verify_tls: bool = True,
                    unsigned: bool = False) -> S3TransferConfig:
    """The transfer layer's config for a resource's fields (``settings_from_env``'s, or a resource's own), with
    progress bars off (logs are not a terminal); a field left out takes the transfer layer's default.

    Raises:
        SettingError: the fields do not make a valid config.
    """
    defaults = _DEFAULTS
    connection = {"region": fields.get("region_name"), "endpoint_url": fields.get("endpoint_url"),
                  "profile": fields.get("profile_name"), "access_key_id": fields.get("aws_access_key_id"),
                  "secret_access_key": fields.get("aws_secret_access_key"),
                  "session_token": fields.get("aws_session_token"), "kms_key_id": fields.get("kms_key_id")}
    sse = fields.get("sse", "AES256")
    try:
        return S3TransferConfig(
            **{name: value for name, value in connection.items() if value},
            retry_attempts=fields.get("max_attempts", defaults.retry_attempts + 1) - 1,
            enable_encryption=sse != "none", encryption_type="aws:kms" if sse == "aws:kms" else "AES256",
            max_concurrency=fields.get("max_concurrency", defaults.max_concurrency),
            addressing_style=fields.get("addressing_style", defaults.addressing_style),
            engine=fields.get("engine", defaults.engine),
            max_in_flight=fields.get("max_in_flight", defaults.max_in_flight),
            use_ssl=use_ssl, verify_tls=verify_tls, unsigned=unsigned, show_progress=False)
    except ValueError as exc:
        raise SettingError(str(exc)) from exc
