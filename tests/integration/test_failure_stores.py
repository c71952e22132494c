"""The FailureObjectStore contract, for the local folder and for S3 (moto): the same
behaviours, so that a replay tested on one says something about the other."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from adapters.aws.failures import S3FailureObjects, parse_s3_url
from adapters.local.failures import LocalFailureObjects
from analytics_core.errors import ConfigurationError, InfrastructureError
from analytics_core.ports import FailureObjectStore

# A store factory gets {key: (content, time)} and returns the store holding them.
Objects = dict[str, tuple[bytes, datetime]]
Factory = Callable[[Objects], FailureObjectStore]
T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)


@pytest.fixture
def local_factory(tmp_path: Path) -> Factory:
    def make(objects: Objects) -> FailureObjectStore:
        root = tmp_path / "bucket"
        root.mkdir(exist_ok=True)
        for key, (content, moment) in objects.items():
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            os.utime(path, (moment.timestamp(), moment.timestamp()))
        return LocalFailureObjects(root)

    return make


@pytest.fixture
def s3_factory() -> Iterator[Factory]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="analytics")

        def make(objects: Objects) -> FailureObjectStore:
            # S3 stamps LastModified itself (the time of the put): objects put in order.
            for key, (content, _moment) in sorted(objects.items(), key=lambda kv: kv[1][1]):
                client.put_object(Bucket="analytics", Key=key, Body=content)
            return S3FailureObjects(client, "analytics", "")

        yield make


@pytest.fixture(params=["local", "s3"])
def factory(request: pytest.FixtureRequest, local_factory: Factory, s3_factory: Factory) -> Factory:
    return local_factory if request.param == "local" else s3_factory


def sample() -> Objects:
    return {
        "http-firehose-failures/2026/11/20/10/IngestHttp-1-a.gz": (b"a", T0),
        "http-firehose-failures/2026/11/21/10/IngestHttp-1-b": (b"bb", T0 + timedelta(days=1)),
        "somewhere/else/c": (b"ccc", T0 + timedelta(days=2)),
        "replayed/http-firehose-failures/2026/11/19/10/IngestHttp-1-old.gz": (b"old", T0),
    }


def test_listing_finds_every_object_except_the_archive_oldest_first(factory: Factory) -> None:
    """Objects are found by walking everything under the source, whatever the layout; the
    archive prefix is never listed; the order is by time."""
    store = factory(sample())
    found = store.list_objects()
    assert [o.key for o in found] == [
        "http-firehose-failures/2026/11/20/10/IngestHttp-1-a.gz",
        "http-firehose-failures/2026/11/21/10/IngestHttp-1-b",
        "somewhere/else/c",
    ]
    assert [o.size for o in found] == [1, 2, 3]


def test_since_and_until_select_by_file_time(local_factory: Factory) -> None:
    """Locally the window is [since, until) on the file's modification time."""
    store = local_factory(sample())
    window = store.list_objects(T0 + timedelta(hours=1), T0 + timedelta(days=2))
    assert [o.key for o in window] == ["http-firehose-failures/2026/11/21/10/IngestHttp-1-b"]
    assert store.list_objects()[0].modified_at == T0


def test_s3_object_time_is_last_modified(s3_factory: Factory) -> None:
    """In S3 the object's time is its LastModified, and the window applies to it."""
    store = s3_factory(sample())
    found = store.list_objects()
    stamp = found[0].modified_at
    assert stamp.tzinfo is not None
    assert store.list_objects(since=stamp + timedelta(seconds=1)) == []
    assert store.list_objects(until=stamp) == []
    assert store.list_objects(since=stamp, until=stamp + timedelta(seconds=1)) == found


def test_archive_moves_the_object_under_the_prefix(factory: Factory) -> None:
    """An archived object is readable at its new key and no longer listed."""
    store = factory(sample())
    key = "http-firehose-failures/2026/11/20/10/IngestHttp-1-a.gz"
    new_key = store.archive(key)
    assert new_key == f"replayed/{key}"
    assert store.read(new_key) == b"a"
    assert key not in [o.key for o in store.list_objects()]
    with pytest.raises(InfrastructureError):
        store.read(key)


def test_a_missing_object_is_an_infrastructure_error(factory: Factory) -> None:
    """Reading a key that is not there raises the port's error, not the library's."""
    store = factory(sample())
    with pytest.raises(InfrastructureError):
        store.read("no/such/key")


def test_s3_listing_is_by_prefix_and_pages_through_everything() -> None:
    """A prefix limits the listing; more than one page of objects is listed completely."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="failures")
        for n in range(1005):
            client.put_object(Bucket="failures", Key=f"http-firehose-failures/x/{n:05d}", Body=b"x")
        client.put_object(Bucket="failures", Key="other/1", Body=b"x")
        store = S3FailureObjects.from_url(client, "s3://failures/http-firehose-failures/")
        keys = [o.key for o in store.list_objects()]
        assert len(keys) == 1005
        assert all(k.startswith("http-firehose-failures/") for k in keys)


def test_local_listing_skips_hidden_files_being_written(tmp_path: Path) -> None:
    """A dot-file (an object the stream is still writing) is not listed."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / ".IngestHttp-1-x.gz.partial").write_bytes(b"half")
    (tmp_path / "d" / "IngestHttp-1-y.gz").write_bytes(b"whole")
    assert [o.key for o in LocalFailureObjects(tmp_path).list_objects()] == ["d/IngestHttp-1-y.gz"]


@pytest.mark.parametrize("url", ["http://bucket/x", "s3://", "bucket/prefix"])
def test_only_s3_urls_name_buckets(url: str) -> None:
    """A SOURCE that is not s3://bucket/... is refused with a message."""
    with pytest.raises(ConfigurationError):
        parse_s3_url(url)
