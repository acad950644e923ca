"""Which lake ``lake run``, ``lake status`` and ``lake ui`` run the code location on: the configured one, or the
embedded server.

One rule for the three: a lake is configured when ``LAKE_S3_BUCKET`` is set in the environment or in ``.env``
(``.env``'s values over the shell's, as Dagster's own commands read it). Then every ``VENDOR_S3_*`` and
``LAKE_S3_*`` setting is taken from there and checked as ``lake config --check`` checks it, and a wrong one stops
the command with the same message before anything runs. Without one, or with ``--embedded``, the command runs on
the embedded server with settings of its own. A configured lake whose endpoint is the embedded server's is the
embedded server, started when needed. The generated vendor sample is published to the embedded server only.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from lake_assets.cli.embedded import console, server_for, serving
from lake_assets.cli.env_file import (
    check_settings,
    dagster_env,
    dagster_home,
    effective_environment,
    is_setting,
    probe_settings,
    shadowed_by_env_file,
)
from lake_assets.local_s3 import EmbeddedS3
from lake_assets.orchestration.settings import (
    PREFIXES,
    bucket_from_env,
    describe_place,
    settings_from_env,
    transfer_config,
)
from lake_assets.s3 import S3TransferConfig


class SettingsRefused(ValueError):
    """The configured settings are wrong or do not reach their buckets; ``problems`` names each, as ``lake config``
    does."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Target:
    """The lake a command runs on: the settings it runs with, the embedded server when the lake is on it, and a
    line saying which lake and why."""

    environ: Mapping[str, str]
    server: EmbeddedS3 | None
    description: str
    configured: bool
    notes: tuple[str, ...] = ()

    def bucket(self, prefix: str) -> str:
        """The bucket of resource ``prefix`` (``VENDOR_S3`` or ``LAKE_S3``)."""
        return bucket_from_env(prefix, self.environ)

    def transfer_config(self, prefix: str) -> S3TransferConfig:
        """The transfer layer's config of resource ``prefix``, by the resources' own rule."""
        return transfer_config(settings_from_env(prefix, self.environ))

    def buckets(self) -> tuple[str, ...]:
        return tuple(self.bucket(prefix) for prefix in PREFIXES)


def choose(args: argparse.Namespace) -> Target:
    """The lake the command of ``args`` runs on (module docstring), its settings checked but no bucket reached.

    Raises:
        SettingsRefused: a configured setting is missing or wrong.
    """
    environ = effective_environment(args.env_file)
    server = server_for(args)
    home = dagster_home(args.dagster_home, environ)
    if args.embedded or not environ.get("LAKE_S3_BUCKET"):
        why = "--embedded" if args.embedded else "no lake configured: LAKE_S3_BUCKET is set neither in the " \
                                                  f"environment nor in {args.env_file}"
        return Target(dagster_env(server, home), server,
                      f"the embedded S3 at {server.endpoint_url} ({why})", configured=False)
    _, problems = check_settings(environ)
    if problems:
        raise SettingsRefused(problems)
    settings = {name: value for name, value in environ.items() if is_setting(name) and name != "DAGSTER_HOME"}
    settings["DAGSTER_HOME"] = str(home.resolve())
    on_server = settings.get("LAKE_S3_ENDPOINT_URL") == server.endpoint_url
    places = "; ".join(describe_place(prefix, bucket_from_env(prefix, environ),
                                      environ.get(f"{prefix}_ENDPOINT_URL")) for prefix in PREFIXES)
    where = ", the embedded server" if on_server else ""
    return Target(settings, server if on_server else None,
                  f"the configured lake ({places}{where}; from the environment and {args.env_file})",
                  configured=True, notes=tuple(shadowed_by_env_file(args.env_file)))


def reach(target: Target) -> None:
    """Reach the target's buckets as ``lake config --check`` does (the embedded server's own are created instead).

    Raises:
        SettingsRefused: naming each bucket that is missing, rejects its keys or denies what the code needs.
    """
    if target.server is not None:
        target.server.ensure_buckets(*target.buckets())
    if target.configured and (problems := probe_settings(target.environ)[1]):
        raise SettingsRefused(problems)


def _replace_settings(values: Mapping[str, str]) -> None:
    """Make ``values`` this process's ``VENDOR_S3_*``, ``LAKE_S3_*`` and ``DAGSTER_HOME`` variables, and no others."""
    for name in [name for name in os.environ if is_setting(name)]:
        del os.environ[name]
    os.environ.update(values)


def use(target: Target) -> None:
    """Point this process's Dagster resources and instance at ``target`` (and what a child process inherits)."""
    _replace_settings(target.environ)


@contextmanager
def using(target: Target) -> Iterator[None]:
    """:func:`use` ``target`` for the block, then give the settings back as they were."""
    before = {name: value for name, value in os.environ.items() if is_setting(name)}
    use(target)
    try:
        yield
    finally:
        _replace_settings(before)


@contextmanager
def running_on(args: argparse.Namespace, keep_running: bool = False) -> Iterator[Target]:
    """Run the block on the lake :func:`choose` picks, saying which: its settings checked before anything starts,
    the embedded server started when the lake is on it (stopped after unless ``keep_running``, and always when the
    block fails), its buckets reached, and this process pointed at it for the block.

    Raises:
        SettingsRefused: a setting is wrong or a bucket cannot be reached; nothing is left running.
    """
    target = choose(args)
    console.print(f"lake: {target.description}", highlight=False)
    for note in target.notes:
        console.print(f"note: {note}", highlight=False)
    with serving(args, keep_running) if target.server is not None else nullcontext():
        reach(target)
        with using(target):
            yield target
