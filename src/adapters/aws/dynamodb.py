"""The DynamoDB tables of the old system, read whole (`LegacyTables`).

A table is read by a parallel scan: `segments` workers, each paging through its segment with
`ExclusiveStartKey` (DynamoDB's 1 MB page limit), strongly consistent so that what the old
system wrote just before is seen. Items come back deserialised (S -> str, N -> Decimal,
SS -> set, L -> list, ...). The client is boto3's default: credentials and region from the
environment, `AWS_ENDPOINT_URL` honoured.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from analytics_core.errors import ConfigurationError, SourceUnavailableError
from analytics_core.legacy_records import LegacyTableInfo

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DEFAULT_SEGMENTS = 4
_MISSING = frozenset({"ResourceNotFoundException"})
_DENIED = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
    }
)


def _translated(exc: ClientError | BotoCoreError, table: str) -> SourceUnavailableError:
    """The port's error for a failed DescribeTable or Scan."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _MISSING:
            return SourceUnavailableError(f"DynamoDB table {table!r} does not exist", table)
        if code in _DENIED:
            return SourceUnavailableError(
                f"access to DynamoDB table {table!r} denied ({code})", table
            )
    return SourceUnavailableError(f"cannot read DynamoDB table {table!r}: {exc}", table)


class DynamoDBLegacyTables:
    """Legacy tables read with a boto3 DynamoDB client."""

    def __init__(self, client: DynamoDBClient, segments: int = DEFAULT_SEGMENTS) -> None:
        if segments < 1:
            raise ValueError("a scan needs at least one segment")
        self._client = client
        self.segments = segments

    @classmethod
    def from_environment(cls, segments: int = DEFAULT_SEGMENTS) -> DynamoDBLegacyTables:
        """Tables through boto3's default client (no I/O until the first call)."""
        try:
            client = boto3.client("dynamodb")
        except BotoCoreError as exc:  # no region: nothing names the tables' account
            raise ConfigurationError(
                "AWS_DEFAULT_REGION", f"cannot make a DynamoDB client: {exc}"
            ) from exc
        return cls(client, segments)

    def describe(self, table: str) -> LegacyTableInfo:
        """The table's key attributes and DynamoDB's item count (refreshed about every 6 hours,
        so an estimate)."""
        try:
            description = self._client.describe_table(TableName=table)["Table"]
        except (ClientError, BotoCoreError) as exc:
            raise _translated(exc, table) from exc
        keys = tuple(part["AttributeName"] for part in description.get("KeySchema", []))
        # 0 is also what a table written in the last hours says: no estimate rather than 0.
        count = int(description.get("ItemCount") or 0)
        return LegacyTableInfo(table, keys, count or None)

    def scan(self, table: str) -> Iterator[Sequence[Mapping[str, object]]]:
        """Every item, a page at a time, from `segments` parallel scans."""
        pages: queue.Queue[list[dict[str, Any]] | BaseException | None] = queue.Queue()
        stop = threading.Event()

        def read_segment(segment: int) -> None:
            try:
                paginator = self._client.get_paginator("scan")
                for page in paginator.paginate(
                    TableName=table,
                    Segment=segment,
                    TotalSegments=self.segments,
                    ConsistentRead=True,
                ):
                    if stop.is_set():
                        return
                    pages.put(page.get("Items", []))
            except BaseException as exc:  # noqa: BLE001  # handed over to the reading thread
                pages.put(exc)
            finally:
                pages.put(None)

        deserialise = TypeDeserializer().deserialize
        with ThreadPoolExecutor(self.segments, thread_name_prefix=f"scan-{table}") as pool:
            for segment in range(self.segments):
                pool.submit(read_segment, segment)
            try:
                running = self.segments
                while running:
                    page = pages.get()
                    if page is None:
                        running -= 1
                    elif isinstance(page, (ClientError, BotoCoreError)):
                        raise _translated(page, table) from page
                    elif isinstance(page, BaseException):
                        raise page
                    else:
                        yield [
                            {name: deserialise(value) for name, value in item.items()}
                            for item in page
                        ]
            finally:
                stop.set()  # a reader that stopped early: the workers end at their next page
