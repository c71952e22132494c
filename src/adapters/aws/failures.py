"""Backed-up batches in S3 (the `FailureObjectStore` port), where Firehose writes them.

Objects are listed by prefix, never by a guessed key layout. Archiving is a copy under the
archive prefix (relative to the bucket, so `http-firehose-failures/...` becomes
`replayed/http-firehose-failures/...`) followed by a delete of the original; listing skips the
archive prefix even when the source prefix contains it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from analytics_core.errors import ConfigurationError, InfrastructureError
from analytics_core.failures import ARCHIVE_PREFIX, StoredObject, within

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DEFAULT_ARCHIVE_PREFIX = ARCHIVE_PREFIX


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/prefix` as (bucket, prefix)."""
    split = urlsplit(url)
    if split.scheme != "s3" or not split.netloc:
        raise ConfigurationError("SOURCE", f"not an s3://bucket/prefix URL: {url}")
    return split.netloc, split.path.lstrip("/")


class S3FailureObjects:
    """Failure objects under `s3://bucket/prefix`."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str = "",
        archive_prefix: str = DEFAULT_ARCHIVE_PREFIX,
    ) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix
        self.archive_prefix = archive_prefix.strip("/") + "/"

    @classmethod
    def from_url(
        cls, client: S3Client, url: str, archive_prefix: str = DEFAULT_ARCHIVE_PREFIX
    ) -> S3FailureObjects:
        """The store of an `s3://bucket/prefix` URL."""
        bucket, prefix = parse_s3_url(url)
        return cls(client, bucket, prefix, archive_prefix)

    def list_objects(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[StoredObject]:
        """Every object under the prefix (archive excluded) in [since, until), oldest first."""
        found: list[StoredObject] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if key.endswith("/") or key.startswith(self.archive_prefix):
                        continue
                    modified = item["LastModified"].astimezone(UTC)
                    found.append(StoredObject(key, modified, int(item.get("Size", 0))))
        except (ClientError, BotoCoreError) as exc:
            raise InfrastructureError(
                f"cannot list s3://{self.bucket}/{self.prefix}: {exc}"
            ) from exc
        return sorted(
            (o for o in found if within(o, since, until)), key=lambda o: (o.modified_at, o.key)
        )

    def read(self, key: str) -> bytes:
        """The object's bytes."""
        try:
            return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise InfrastructureError(f"cannot read s3://{self.bucket}/{key}: {exc}") from exc

    def archive(self, key: str) -> str:
        """Copy the object under the archive prefix, then delete it; returns the new key."""
        target = self.archive_prefix + key
        try:
            self._client.copy_object(
                Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": key}
            )
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise InfrastructureError(f"cannot archive s3://{self.bucket}/{key}: {exc}") from exc
        return target

    def location(self, key: str) -> str:
        """Where the object is, for people."""
        return f"s3://{self.bucket}/{key}"
