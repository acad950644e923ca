"""Which keys exist, asked through the CRT: a batch the CRT moves then builds no boto3 client.

A Dagster run is a new process, and building boto3's S3 client there (about 70 ms, mostly parsing botocore's
model) was most of what a first conditional upload paid over the ones after it. The CRT path understands only
the answers an existence check expects (200 and 404 to a HEAD, a ListObjectsV2 page); anything else is asked
again through boto3, whose retries and errors say what is wrong, so both engines fail the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import unquote_plus
from xml.etree import ElementTree

from lake_assets.s3.client import ClientSource
from lake_assets.s3.crt import CrtClient
from lake_assets.s3.listing import BotoKeys, KeyLookup
from lake_assets.s3.stats import TransferStatistics


class CrtKeys:
    """:class:`~lake_assets.s3.listing.KeyLookup` through the CRT, falling back to ``fallback`` (boto3)."""

    def __init__(self, crt: CrtClient, fallback: KeyLookup, stats: TransferStatistics) -> None:
        self._crt = crt
        self._fallback = fallback
        self._stats = stats

    def exists(self, bucket: str, key: str) -> bool:
        self._stats.on_request("HeadObject", retry=False)
        status = self._crt.head_object(bucket, key)
        if status in (200, 404):
            return status == 200
        return self._fallback.exists(bucket, key)

    def keys(self, bucket: str, prefix: str, start_after: str | None) -> Iterator[str]:
        token: str | None = None
        while True:
            self._stats.on_request("ListObjectsV2", retry=False)
            status, body = self._crt.list_page(bucket, prefix, start_after, token)
            page = parse_list_page(body) if status == 200 else None
            if page is None:
                yield from self._fallback.keys(bucket, prefix, start_after)
                return
            keys, token = page
            yield from keys
            start_after = keys[-1] if keys else start_after
            if token is None:
                return


def key_lookup(client: ClientSource, crt: CrtClient | None, stats: TransferStatistics) -> KeyLookup:
    """Ask through ``crt`` when the handler has one (the ``"crt"`` engine, no proxy), else through boto3."""
    boto = BotoKeys(client)
    return boto if crt is None else CrtKeys(crt, boto, stats)


def parse_list_page(body: bytes) -> tuple[list[str], str | None] | None:
    """Return a ListObjectsV2 page's keys (URL-decoded) and its continuation token (None on the last page),
    or None when the body is not such a page."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None
    if not root.tag.endswith("ListBucketResult"):
        return None
    keys = [unquote_plus(key.text or "") for key in root.iterfind("{*}Contents/{*}Key")]
    truncated = root.findtext("{*}IsTruncated") == "true"
    token = root.findtext("{*}NextContinuationToken") if truncated else None
    if truncated and not token:
        return None
    return keys, token
