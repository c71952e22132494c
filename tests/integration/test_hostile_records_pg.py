"""Poison records against the real stores: processIngest imported as Lambda does, PostgreSQL
and moto's Firehose streams. Good records of a batch are stored and forwarded whatever the
records beside them hold, and the outcome counters add up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.aws import create_stream, delivered_json, fake_aws
from tests.support.db import fetch_all
from tests.support.hostile import envelope_text, good_body, payloads, poison_bodies
from tests.support.ingest import ACCESS_KEY, SITE, firehose_event, uid
from tests.support.modules import lambda_module

from adapters.config import Env
from adapters.postgres.pool import Pool

BUCKET = "hostile-cold"
RECEIVED_AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def module(database_url: str) -> Iterator[ModuleType]:
    with fake_aws():
        for name in ("events", "initial_events"):
            create_stream(name, BUCKET)
        environment = {
            Env.DATABASE_URL.value: database_url,
            Env.FIREHOSE_ACCESS_KEY.value: ACCESS_KEY,
            Env.EVENTS_STREAM_NAME.value: "events",
            Env.INITIAL_EVENTS_STREAM_NAME.value: "initial_events",
        }
        with lambda_module("entrypoints.lambdas.process_ingest", environment) as loaded:
            yield loaded


def add_site(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sites (site_id, owner_sub, name, domains, request_allowance) "
            "VALUES (%s, 'owner', 'Example', ARRAY['example.com'], 100000)",
            (SITE,),
        )


def stored(url: str) -> dict[str, dict[str, Any]]:
    rows = fetch_all(
        url,
        "SELECT event_uid, timestamp, properties, NULL::int AS w, NULL::int AS h FROM events "
        "UNION ALL SELECT event_uid, timestamp, properties, screen_width, screen_height "
        "FROM initial_events",
    )
    return {
        uid_: {"timestamp": ts, "properties": props, "width": w, "height": h}
        for uid_, ts, props, w, h in rows
    }


def outcome_counts(url: str) -> dict[str, int]:
    rows = fetch_all(url, "SELECT outcome, sum(count)::int FROM ingest_outcomes GROUP BY outcome")
    return {str(outcome): int(count) for outcome, count in rows}


def forwarded() -> set[str]:
    return {
        row["event_uid"]
        for table in ("events", "initial_events")
        for row in delivered_json(BUCKET, table)
    }


def test_a_poison_batch_stores_every_good_record_in_postgres_and_the_cold_store(
    module: ModuleType, db: Pool, database_url: str
) -> None:
    """The hostile batch (10^400, -10^400 and 1e999 timestamps, a 10,000-digit screen width,
    an object timestamp, a 10^400 property) answers 200; the good records and the poison ones
    with their replacements are in PostgreSQL and forwarded; the stored outcome counters add
    up to the batch."""
    add_site(database_url)
    good = [envelope_text(n, good_body(n, "initial" if n % 2 else "event")) for n in range(1, 5)]
    poison = [envelope_text(10 + i, body) for i, body in enumerate(poison_bodies())]
    records = good[:2] + poison + good[2:]
    response = module.handler(firehose_event(records), None)
    assert response["statusCode"] == 200, response["body"]
    rows = stored(database_url)
    assert {uid(n) for n in range(1, 5)} <= set(rows)
    for number in (10, 11, 12, 14):
        assert rows[uid(number)]["timestamp"] == RECEIVED_AT
    assert rows[uid(13)]["width"] is None
    assert rows[uid(13)]["height"] == 800
    assert rows[uid(15)]["properties"] == {"plan": "pro"}
    assert set(rows) <= forwarded()
    counts = outcome_counts(database_url)
    assert sum(counts.values()) == len(records)
    assert counts.get("accepted", 0) == len(rows)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(bodies=st.lists(payloads, min_size=1, max_size=8))
def test_arbitrary_payloads_never_fail_a_batch_against_the_real_stores(
    module: ModuleType, database_url: str, bodies: list[Any]
) -> None:
    """Arbitrary JSON in every payload field: 200 from processIngest with PostgreSQL's COPY and
    Firehose's PutRecordBatch doing the writing, and a good record beside them stored."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE events, initial_events, ingest_outcomes, sites CASCADE")
    add_site(database_url)
    records = [envelope_text(n, body) for n, body in enumerate(bodies, start=1)]
    records.append(envelope_text(999, good_body(999)))
    response = module.handler(firehose_event(records), None)
    assert response["statusCode"] == 200, json.loads(response["body"])
    rows = stored(database_url)
    assert uid(999) in rows
    counts = outcome_counts(database_url)
    assert sum(counts.values()) == len(records)
