"""processIngest end to end: the Lambda module imported as Lambda does, real PostgreSQL, moto
Firehose streams (S3 stand-ins for the Iceberg destinations), requests built as AWS documents
them."""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

import boto3
import psycopg
import pytest
from tests.support.aws import REGION, create_stream, delivered_json, fake_aws
from tests.support.db import fetch_all
from tests.support.ingest import (
    ACCESS_KEY,
    CHROME,
    NOW_MS,
    OTHER_SITE,
    REQUEST_ID,
    SITE,
    envelope,
    firehose_event,
    payload,
    record,
    uid,
)
from tests.support.modules import lambda_module

from adapters.config import Env
from adapters.postgres.events import PendingRange, PostgresEventStore
from adapters.postgres.pool import Pool
from analytics_core.errors import ConfigurationError

BUCKET = "cold-stand-in"
OK = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "isBase64Encoded": False}


@pytest.fixture(scope="module")
def aws() -> Iterator[None]:
    with fake_aws():
        for name in ("events", "initial_events"):
            create_stream(name, BUCKET)
        yield


def environment(database_url: str) -> dict[str, str]:
    return {
        Env.DATABASE_URL.value: database_url,
        Env.FIREHOSE_ACCESS_KEY.value: ACCESS_KEY,
        Env.EVENTS_STREAM_NAME.value: "events",
        Env.INITIAL_EVENTS_STREAM_NAME.value: "initial_events",
    }


@pytest.fixture(scope="module")
def module(aws: None, database_url: str) -> Iterator[ModuleType]:
    with lambda_module("entrypoints.lambdas.process_ingest", environment(database_url)) as loaded:
        yield loaded


def forwarded(table: str) -> list[str]:
    """The event uids the cold stream has received (moto writes records at once)."""
    return sorted(row["event_uid"] for row in delivered_json(BUCKET, table))


@pytest.fixture
def clean_cold(aws: None) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=item["Key"])


def add_site(url: str, site_id: str = SITE, allowance: int = 1000, level: int = 1) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sites (site_id, owner_sub, name, domains, request_allowance, "
            "compliance_level) VALUES (%s, 'owner', 'Example', ARRAY['example.com'], %s, %s)",
            (site_id, allowance, level),
        )


def stored(url: str) -> list[str]:
    rows = fetch_all(
        url, "SELECT event_uid FROM events UNION ALL SELECT event_uid FROM initial_events"
    )
    return sorted(uid for (uid,) in rows)


def allowance(url: str, site_id: str = SITE) -> int:
    ((value,),) = fetch_all(
        url, "SELECT request_allowance FROM sites WHERE site_id = %s", (site_id,)
    )
    return int(value)


def batch(*numbers: int, kind: str = "event") -> list[bytes]:
    return [record(envelope(n, payload(kind, session_id=f"s{n}"))) for n in numbers]


def answer_body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


@pytest.mark.parametrize("encoding", ["gzip, base64", "base64", "plain text"])
def test_documented_requests_are_answered_byte_for_byte(
    module: ModuleType, db: Pool, database_url: str, clean_cold: None, encoding: str
) -> None:
    """Gzip or not, base64-encoded by the Function URL or not: the exact 200 answer, the rows
    in PostgreSQL and in the cold streams."""
    add_site(database_url)
    event = firehose_event(
        batch(1, 2) + batch(3, kind="initial"),
        gzip_body="gzip" in encoding,
        base64_body="base64" in encoding,
    )
    response = module.handler(event, None)
    body = answer_body(response)
    assert {k: response[k] for k in OK} == OK
    assert response["body"] == f'{{"requestId":"{REQUEST_ID}","timestamp":{body["timestamp"]}}}'
    assert isinstance(body["timestamp"], int)
    assert body["timestamp"] > NOW_MS - 10**12  # epoch milliseconds, not seconds
    assert "Content-Encoding" not in response["headers"]
    assert stored(database_url) == [uid(1), uid(2), uid(3)]
    assert forwarded("events") == [uid(1), uid(2)]
    assert forwarded("initial_events") == [uid(3)]


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_wrong_or_missing_key_is_401_with_nothing_stored(
    module: ModuleType, db: Pool, database_url: str, key: str | None
) -> None:
    """401, the request id echoed, nothing stored or charged."""
    add_site(database_url)
    response = module.handler(firehose_event(batch(1), access_key=key), None)
    assert response["statusCode"] == 401
    assert answer_body(response)["requestId"] == REQUEST_ID
    assert stored(database_url) == []
    assert allowance(database_url) == 1000


def test_redelivered_and_overlapping_batches_store_and_charge_once(
    module: ModuleType, db: Pool, database_url: str, clean_cold: None
) -> None:
    """The same batch twice and an overlapping batch: each event once in PostgreSQL, charged
    once, outcome counters honest; the cold store receives duplicates again (at least once)."""
    add_site(database_url)
    for records in (batch(1, 2, 3), batch(1, 2, 3), batch(3, 4)):
        assert module.handler(firehose_event(records), None)["statusCode"] == 200
    assert stored(database_url) == [uid(1), uid(2), uid(3), uid(4)]
    assert allowance(database_url) == 996
    counts = dict(fetch_all(database_url, "SELECT outcome, count FROM ingest_outcomes"))
    assert counts == {"accepted": 4, "duplicate": 4}
    assert set(forwarded("events")) == {uid(1), uid(2), uid(3), uid(4)}


def test_connection_killed_mid_batch_commits_nothing_and_redelivery_stores_all(
    module: ModuleType,
    db: Pool,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The backend is terminated after the rows were inserted, before commit: non-200, nothing
    committed (rows, allowance, counters, pending ranges); Firehose's redelivery then stores
    everything."""
    add_site(database_url)
    real_hook = PostgresEventStore._mark_pending
    killed: list[int] = []

    def kill_own_backend(conn: psycopg.Connection[Any], ranges: Sequence[PendingRange]) -> None:
        pid = conn.info.backend_pid
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        killed.append(pid)
        real_hook(conn, ranges)

    monkeypatch.setattr(PostgresEventStore, "_mark_pending", staticmethod(kill_own_backend))
    response = module.handler(firehose_event(batch(1, 2) + batch(3, kind="initial")), None)
    assert killed
    assert response["statusCode"] == 503
    assert answer_body(response)["errorMessage"]
    assert stored(database_url) == []
    assert allowance(database_url) == 1000
    assert fetch_all(database_url, "SELECT count(*) FROM ingest_outcomes") == [(0,)]
    assert fetch_all(database_url, "SELECT count(*) FROM stats_pending_ranges") == [(0,)]

    monkeypatch.setattr(PostgresEventStore, "_mark_pending", staticmethod(real_hook))
    again = module.handler(firehose_event(batch(1, 2) + batch(3, kind="initial")), None)
    assert again["statusCode"] == 200
    assert stored(database_url) == [uid(1), uid(2), uid(3)]
    assert allowance(database_url) == 997
    assert fetch_all(
        database_url, "SELECT is_initial, row_count FROM stats_pending_ranges ORDER BY 1"
    ) == [(False, 2), (True, 1)]


def test_cold_store_failure_is_retried_by_redelivery(
    module: ModuleType, db: Pool, database_url: str, clean_cold: None
) -> None:
    """With the events stream gone the batch answers 503 (rows stay stored); once it is back,
    the redelivery finds duplicates, charges nothing and forwards every row."""
    add_site(database_url)
    firehose = boto3.client("firehose", region_name=REGION)
    firehose.delete_delivery_stream(DeliveryStreamName="events")
    try:
        failed = module.handler(firehose_event(batch(1, 2)), None)
    finally:
        create_stream("events", BUCKET)
    assert failed["statusCode"] == 503
    assert stored(database_url) == [uid(1), uid(2)]
    assert module.handler(firehose_event(batch(1, 2)), None)["statusCode"] == 200
    assert forwarded("events") == [uid(1), uid(2)]
    assert allowance(database_url) == 998


def hostile_records() -> tuple[list[bytes], set[str]]:
    """The acceptance list of hostile and broken input, plus the good records among them
    (returns the records and the uids that must be stored)."""
    nul, lone = "\x00", "\ud800"
    long_text = "x" * 10_000
    deep: Any = "bottom"
    for _ in range(60):
        deep = {"d": deep}
    good: list[tuple[int, dict[str, Any]]] = [
        (1, payload()),
        (
            2,
            payload(
                "initial",
                session_id=f"sess{nul}{lone}ion",
                event=f"page{nul}view{lone}",
                pathname=f"/a{nul}b{lone}",
                referrer=f"https://news.example/{nul}{lone}",
                url=f"https://example.com/?utm_source=a{nul}{lone}",
                utm={
                    "source": f"x{nul}",
                    "medium": lone,
                    "campaign": "c",
                    "content": nul,
                    "term": "t",
                },
                properties={f"k{nul}": f"v{nul}{lone}", "u": "\u0000"},
            ),
        ),
        (
            3,
            payload(
                "initial",
                session_id=long_text,
                event=long_text,
                pathname="/" + long_text,
                referrer="https://ref.example/" + long_text,
                url="https://example.com/?utm_campaign=" + long_text,
                properties={"big": long_text, long_text: "key"},
            ),
        ),
        (4, payload("initial", screen={"width": 10**9, "height": -5})),
        (5, payload(properties={"deep": deep, "list": [[[[1]]]], "ok": 1})),
        (6, payload(properties={f"k{i}": i for i in range(5_000)})),
        (7, payload(timestamp=0)),  # 1970
        (8, payload(timestamp=32_503_680_000_000)),  # 2999-ish
    ]
    records = [record(envelope(n, body)) for n, body in good]
    records += [
        record(
            envelope(
                9, payload(), user_agent=f"{CHROME}{nul}{lone}", origin=f"https://example.com{nul}"
            )
        ),
        record(envelope(10, payload(), origin="https://evil-example.com")),
        record(envelope(11, payload(), origin="https://example.com.evil.net")),
        record(envelope(12, payload(), site_id=OTHER_SITE)),  # unknown
        record(envelope(13, payload(), site_id="")),
        record(envelope(14, payload(), site_id="x" * 10_000)),
        record(envelope(15, payload(), site_id=SITE.lower())),
        record(envelope(16, payload(), user_agent=f"{CHROME} {long_text}")),
        record(envelope(22, payload(), user_agent=f"{CHROME}{nul}{lone}")),
        b"[1, 2, 3]",
        b'"just a string"',
        b"null",
        b"\xff\xfe not utf-8",
        b'{"v": 1, "uid": "' + b"[" * 10_000,
        record(
            {
                "v": 1,
                "uid": uid(17),
                "site_id": SITE,
                "received_at": "yesterday",
                "payload": {},
                "ctx": {},
            }
        ),
        record(envelope(18, {"type": "initial", "session_id": 5, "event": [], "pathname": None})),
        record(envelope(19) | {"payload": "not an object"}),
    ]
    records.append(gzip.compress(record(envelope(20)))[:-10])
    deep_json = (
        b'{"v":1,"uid":"'
        + uid(21).encode()
        + b'","payload":'
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}"
    )
    records.append(deep_json)
    return records, {uid(n) for n, _ in good}


def test_hostile_and_broken_input_is_counted_never_fatal(
    module: ModuleType, db: Pool, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every hostile record is counted under an outcome; the batch answers 200 and stores all
    good records, cleaned and cut to their columns."""
    add_site(database_url)
    records, good = hostile_records()
    body = json.loads(firehose_event(records, gzip_body=False, base64_body=False)["body"])
    body["records"].append({"data": "this is not base64!"})
    event = firehose_event(raw_body=json.dumps(body).encode())
    with caplog.at_level(logging.INFO, logger="entrypoints.pipeline"):
        response = module.handler(event, None)
    assert response["statusCode"] == 200, response["body"]
    assert set(stored(database_url)) >= good
    (line,) = [
        json.loads(r.getMessage()) for r in caplog.records if r.name == "entrypoints.pipeline"
    ]
    assert line["records"] == len(records) + 1
    assert line["outcomes"] == {
        "accepted": len(good) + 2,
        "duplicate": 0,
        "malformed": 14,
        "unknown_site": 1,
        "domain_mismatch": 3,
        "bot": 0,
        "over_allowance": 0,
    }
    counts = dict(
        fetch_all(database_url, "SELECT outcome, sum(count) FROM ingest_outcomes GROUP BY 1")
    )
    assert counts == {
        "accepted": len(good) + 2,  # + the user agents of 10,000 characters, of NUL and U+D800
        "domain_mismatch": 3,  # an Origin broken by NUL, two spoofed ones
        "malformed": 1,  # a body of the wrong shape for a known site
    }
    texts = fetch_all(
        database_url,
        "SELECT session_id, event, pathname, referer, utm_source, utm_campaign, properties::text, "
        'screen_width, screen_height, "timestamp" FROM initial_events ORDER BY event_uid',
    )
    for row in texts:
        for value in row[:7]:
            assert value is None or ("\x00" not in value and "\ud800" not in value)
    by_uid = {
        row[0]: row[1:]
        for row in fetch_all(
            database_url,
            "SELECT event_uid, length(session_id), length(event), length(pathname), "
            "length(referer), length(utm_campaign), screen_width, screen_height "
            "FROM initial_events",
        )
    }
    assert by_uid[uid(3)] == (128, 200, 2048, 2048, 255, None, None)
    assert by_uid[uid(4)][5:] == (32767, None)
    ((properties,),) = fetch_all(
        database_url, "SELECT properties FROM events WHERE event_uid = %s", (uid(6),)
    )
    assert len(properties) == 30
    ((properties,),) = fetch_all(
        database_url, "SELECT properties FROM events WHERE event_uid = %s", (uid(5),)
    )
    assert properties == {"ok": 1}
    times = dict(fetch_all(database_url, 'SELECT event_uid, "timestamp" FROM events'))
    assert times[uid(7)].isoformat() == times[uid(8)].isoformat() == "2026-11-25T12:00:00+00:00"


def test_a_missing_setting_stops_the_cold_start_with_its_name(aws: None, database_url: str) -> None:
    """Without EVENTS_STREAM_NAME (or the access key) the module does not load."""
    for missing in (Env.EVENTS_STREAM_NAME, Env.FIREHOSE_ACCESS_KEY):
        env = environment(database_url)
        env[missing.value] = ""
        with (
            pytest.raises(ConfigurationError, match=missing.value),
            lambda_module("entrypoints.lambdas.process_ingest", env),
        ):
            pass
