"""Flat, streaming, always-paginated listings, and existence checks that pick HEAD or LIST by cost."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from typing import Protocol

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from lake_assets.s3.client import ClientSource, ClientUser
from lake_assets.s3.refs import ObjectInfo
from lake_assets.s3.translate import http_status

#: The most keys one ListObjectsV2 page returns.
LIST_PAGE_SIZE = 1000
#: HEADs one LIST request is worth: S3 bills LIST at $0.005 and HEAD at $0.0004 per 1,000 requests.
LIST_COST_IN_HEADS = 12.5


def iter_objects(client: BaseClient, bucket: str, prefix: str = "", start_after: str | None = None,
                 page_size: int = LIST_PAGE_SIZE) -> Iterator[ObjectInfo]:
    """Yield every object under ``prefix`` in key order, one page (1,000 keys, or ``page_size``) per request.

    A flat listing (no delimiter) costs ceil(n / 1000) requests for n keys, whatever their depth;
    ``start_after`` resumes after a key, so a caller that keeps a cursor pays only for new keys. A caller that
    reads only the first few hundred keys asks for a smaller page: each page is parsed whole.
    """
    kwargs: dict[str, object] = {"Bucket": bucket, "Prefix": prefix,
                                 "PaginationConfig": {"PageSize": min(page_size, LIST_PAGE_SIZE)}}
    if start_after:
        kwargs["StartAfter"] = start_after
    for page in client.get_paginator("list_objects_v2").paginate(**kwargs):
        for entry in page.get("Contents", ()):
            yield ObjectInfo.from_listing(entry)


def group_by_prefix(sorted_keys: list[str]) -> list[list[str]]:
    """Split sorted keys at the path segment right after their common directory.

    Keys of different datasets or zones then form separate groups, each listed over its own narrow
    key range instead of one range spanning everything between them.
    """
    if not sorted_keys:
        return []
    common = os.path.commonprefix([sorted_keys[0], sorted_keys[-1]])
    cut = common.rfind("/") + 1
    groups: dict[str, list[str]] = {}
    for key in sorted_keys:
        rest = key[cut:]
        segment = rest.split("/", 1)[0] if "/" in rest else ""
        groups.setdefault(segment, []).append(key)
    return list(groups.values())


def existing_by_listing(lookup: KeyLookup, bucket: str, sorted_keys: list[str]) -> set[str]:
    """Return which of ``sorted_keys`` exist, listing only the key range they span."""
    prefix = os.path.commonprefix([sorted_keys[0], sorted_keys[-1]])
    wanted = set(sorted_keys)
    last = sorted_keys[-1]
    found: set[str] = set()
    for key in lookup.keys(bucket, prefix, start_after=sorted_keys[0][:-1] or None):
        if key > last:
            break
        if key in wanted:
            found.add(key)
    return found


def key_exists(client: BaseClient, bucket: str, key: str) -> bool:
    """Return whether ``key`` exists, with one HEAD request; errors other than 404 propagate."""
    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if http_status(exc) == 404:
            return False
        raise
    return True


class KeyLookup(Protocol):
    """What an existence check asks S3: whether one key exists, and which keys follow one under a prefix."""

    def exists(self, bucket: str, key: str) -> bool:
        """Whether ``key`` exists (one HEAD); errors other than 404 raise."""

    def keys(self, bucket: str, prefix: str, start_after: str | None) -> Iterator[str]:
        """Every key under ``prefix`` after ``start_after``, in order, a LIST page at a time."""


class BotoKeys(ClientUser):
    """:class:`KeyLookup` through the handler's boto3 client, built only if this is asked."""

    def __init__(self, client: ClientSource) -> None:
        self._client_source = client

    def exists(self, bucket: str, key: str) -> bool:
        return key_exists(self._client, bucket, key)

    def keys(self, bucket: str, prefix: str, start_after: str | None) -> Iterator[str]:
        return (info.key for info in iter_objects(self._client, bucket, prefix, start_after))


def existing_keys(lookup: KeyLookup, bucket: str, keys: Iterable[str], threshold: int,
                  executor: Executor, on_error: Callable[[str, Exception], None]) -> set[str]:
    """Return which ``keys`` exist in ``bucket``, by HEAD per key or by LIST over prefix groups.

    Fewer than ``threshold`` keys: one HEAD each, run on ``executor``. Otherwise keys are grouped by
    prefix, and a group is answered by listing its key range (about ceil(range / 1000) requests)
    when it holds more keys than one LIST request is worth in HEADs, else by HEADs. A HEAD that fails for another
    reason than 404 is passed to ``on_error``, which raises, or returns to count the key absent.
    """
    unique = sorted(set(keys))
    if not unique:
        return set()
    found: set[str] = set()
    heads: list[str] = []
    if len(unique) < threshold:
        heads = unique
    else:
        for group in group_by_prefix(unique):
            if len(group) > LIST_COST_IN_HEADS:
                found |= existing_by_listing(lookup, bucket, group)
            else:
                heads.extend(group)
    futures = {key: executor.submit(lookup.exists, bucket, key) for key in heads}
    for key, future in futures.items():
        try:
            if future.result():
                found.add(key)
        except Exception as exc:  # reported per key; the caller decides what a failed check means
            on_error(key, exc)
    return found
