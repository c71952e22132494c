"""Acceptance 3: `analytics replay` of the batches Firehose gave up on.

Two sources: the failure objects the local stream writes when the database is down while
`analytics serve` runs, and objects in a (moto) S3 bucket written in AWS's documented format.
Replay stores their events once (a second replay stores nothing), `--dry-run` changes
nothing, and a chunk that fails leaves its object in place with a non-zero exit.
"""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from adapters.config import Settings
from adapters.local.failures import LocalFailureObjects
from adapters.postgres.embedded import EmbeddedPostgres
from entrypoints import bootstrap
from entrypoints.api import collect
from entrypoints.failure_objects import parse_failure_object
from entrypoints.local.http_adapter import build_event
from tests.e2e.browser import free_port
from tests.e2e.stack import (
    BROWSER_UA,
    Serve,
    analytics,
    clean_environ,
    fetch_after_exit,
    poll,
    session_payloads,
)

pytestmark = pytest.mark.slow

COUNT_ROWS = (
    "SELECT (SELECT count(*) FROM events WHERE site_id = %s)"
    " + (SELECT count(*) FROM initial_events WHERE site_id = %s)"
)


def replay_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.stdout.strip(), result.stderr
    return dict(json.loads(result.stdout))


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "data"
    yield folder
    EmbeddedPostgres(folder / "postgres").stop()


def stored_rows(data_dir: Path, site_id: str) -> int:
    return int(fetch_after_exit(data_dir, COUNT_ROWS, (site_id, site_id))[0][0])


def test_batches_backed_up_during_an_outage_replay_from_the_local_folder(data_dir: Path) -> None:
    """The database goes down under a running serve: its batches land in the failures
    folder; a dry run changes nothing; replay stores them all; a second replay stores
    nothing more."""
    serve = Serve(data_dir, "--buffer-seconds", "0.2", "--retry-seconds", "0.5").start()
    try:
        site_id = serve.create_site(["example.com"])
        EmbeddedPostgres(data_dir / "postgres").stop()  # the outage
        payloads = session_payloads(
            "outage-session-1", ["/", "/a", "/b", "/c"], int(time.time() * 1000)
        )
        for payload in payloads:
            assert serve.collect(site_id, payload) == 202
        failures = LocalFailureObjects(data_dir / "firehose-failures")

        def backed_up() -> int:
            if not failures.root.is_dir():
                return 0
            return sum(
                len(parse_failure_object(failures.read(o.key)).envelopes)
                for o in failures.list_objects()
            )

        poll(lambda: backed_up() == len(payloads), 60, "failure objects for every event")
        assert any("batch backed up for replay" in line for line in serve.stderr)
        assert serve.stop() == 0
    finally:
        serve.kill()
    objects = [o.key for o in failures.list_objects()]
    assert all(key.startswith("http-firehose-failures/") for key in objects)
    assert stored_rows(data_dir, site_id) == 0

    source = str(data_dir / "firehose-failures")
    dry = analytics("replay", source, "--data-dir", str(data_dir), "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert replay_json(dry)["records"] == len(payloads)
    assert [o.key for o in failures.list_objects()] == objects
    assert stored_rows(data_dir, site_id) == 0

    first = analytics("replay", source, "--data-dir", str(data_dir), "--keep", "--json")
    assert first.returncode == 0, first.stderr
    assert replay_json(first)["outcomes"] == {"accepted": len(payloads)}
    assert stored_rows(data_dir, site_id) == len(payloads)

    second = analytics("replay", source, "--data-dir", str(data_dir), "--json")
    assert second.returncode == 0, second.stderr
    summary = replay_json(second)
    assert summary["outcomes"] == {"duplicate": len(payloads)}
    assert summary["objectsArchived"] == len(objects)
    assert stored_rows(data_dir, site_id) == len(payloads)
    assert failures.list_objects() == []
    assert sorted((data_dir / "firehose-failures" / "replayed").rglob("IngestHttp-*")) != []


class _Capture:
    """An IngestStream that keeps what the collect handler puts."""

    def __init__(self) -> None:
        self.records: list[bytes] = []

    def put(self, record: bytes) -> None:
        self.records.append(record)


def real_envelopes(site_id: str, payloads: Sequence[dict[str, Any]]) -> list[bytes]:
    """Envelopes exactly as the collect handler makes them."""
    capture = _Capture()
    handler = collect.make_handler(bootstrap.build(Settings(), ingest_stream=capture))
    for payload in payloads:
        event = build_event(
            method="POST",
            target=f"/ingest?site_id={site_id}",
            headers=[
                ("Content-Type", "text/plain;charset=UTF-8"),
                ("Origin", "https://example.com"),
                ("User-Agent", BROWSER_UA),
            ],
            body=json.dumps(payload).encode(),
            source_ip="203.0.113.10",
        )
        assert handler(event, None)["statusCode"] == 202
    return capture.records


def aws_failure_record(envelope: bytes, n: int) -> dict[str, Any]:
    """One record as Firehose writes it to S3 after giving up on an HTTP endpoint."""
    return {
        "attemptsMade": 4,
        "arrivalTimestamp": 1764064800000 + n,
        "errorCode": "HttpEndpoint.DestinationException",
        "errorMessage": "The following response was received from the endpoint destination. "
        '503: {"requestId": "abc", "timestamp": 1764065100000, "errorMessage": "unavailable"}',
        "attemptEndingTimestamp": 1764065100000,
        "rawData": base64.b64encode(envelope).decode(),
        "subsequenceNumber": 0,
        "dataId": f"49654732108915436731447582739176390234567812345678901234.{n}",
    }


@pytest.fixture
def moto_env() -> Iterator[dict[str, str]]:
    """A moto server and the environment that points boto3 at it."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = clean_environ(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="eu-west-1",
    )
    yield env
    server.stop()


def test_objects_in_s3_replay_once_and_a_failing_chunk_leaves_them(
    data_dir: Path, moto_env: dict[str, str]
) -> None:
    """Failure objects in S3 (gzipped newline-separated and plain concatenated) replay into
    stored events and move under replayed/; replaying again stores nothing; with the
    database unreachable the chunk fails, the exit is non-zero and the objects stay."""
    created = analytics(
        "sites", "create", "S3 site", "--domain", "example.com", "--data-dir", str(data_dir)
    )
    assert created.returncode == 0, created.stderr
    site_id = created.stdout.strip()
    now = int(time.time() * 1000)
    first = real_envelopes(site_id, session_payloads("s3-session-aaaa", ["/", "/x", "/y"], now))
    second = real_envelopes(site_id, session_payloads("s3-session-bbbb", ["/p", "/q"], now))
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_env["AWS_ENDPOINT_URL"],
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(
        Bucket="analytics-data", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    gz_body = gzip.compress(
        "\n".join(json.dumps(aws_failure_record(e, i)) for i, e in enumerate(first)).encode()
    )
    plain_body = "".join(
        json.dumps(aws_failure_record(e, i)) for i, e in enumerate(second)
    ).encode()
    keys = [
        "http-firehose-failures/2026/11/25/10/IngestHttp-1-2026-11-25-10-05-00-1b2c3d4e.gz",
        "http-firehose-failures/2026/11/25/11/IngestHttp-1-2026-11-25-11-05-00-5f6a7b8c",
    ]
    s3.put_object(Bucket="analytics-data", Key=keys[0], Body=gz_body)
    s3.put_object(Bucket="analytics-data", Key=keys[1], Body=plain_body)
    source = "s3://analytics-data/http-firehose-failures/"

    def listed(prefix: str) -> list[str]:
        page = s3.list_objects_v2(Bucket="analytics-data", Prefix=prefix)
        return sorted(item["Key"] for item in page.get("Contents", []))

    broken_env = {
        **moto_env,
        "DATABASE_URL": "postgresql://postgres@/analytics?host=/nonexistent-socket-dir",
    }
    broken = analytics("replay", source, "--json", env=broken_env)
    assert broken.returncode != 0
    assert replay_json(broken)["objectsFailed"] == 1
    assert listed("http-firehose-failures/") == sorted(keys)
    assert stored_rows(data_dir, site_id) == 0

    dry = analytics(
        "replay", source, "--data-dir", str(data_dir), "--dry-run", "--json", env=moto_env
    )
    assert dry.returncode == 0, dry.stderr
    assert replay_json(dry)["records"] == 5
    assert listed("http-firehose-failures/") == sorted(keys)

    kept = analytics(
        "replay", source, "--data-dir", str(data_dir), "--keep", "--json", env=moto_env
    )
    assert kept.returncode == 0, kept.stderr
    assert replay_json(kept)["outcomes"] == {"accepted": 5}
    assert stored_rows(data_dir, site_id) == 5

    again = analytics("replay", source, "--data-dir", str(data_dir), "--json", env=moto_env)
    assert again.returncode == 0, again.stderr
    assert replay_json(again)["outcomes"] == {"duplicate": 5}
    assert stored_rows(data_dir, site_id) == 5
    assert listed("http-firehose-failures/") == []
    assert listed("replayed/") == sorted(f"replayed/{k}" for k in keys)
